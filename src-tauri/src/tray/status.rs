//! What the tray's status line says, decided from the engine's own reports (its event
//! stream's up/down items) and from what the user asked the tray to do.

/// The engine as the tray shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineState {
    /// Not known yet (the first answer of the event stream is pending).
    Checking,
    Running,
    Stopped,
    Starting,
    Stopping,
    Error(String),
}

impl EngineState {
    /// The status line of the tray menu.
    pub fn label(&self) -> String {
        match self {
            EngineState::Checking => "Engine: checking…".into(),
            EngineState::Running => "Engine: Running".into(),
            EngineState::Stopped => "Engine: Stopped".into(),
            EngineState::Starting => "Engine: Starting…".into(),
            EngineState::Stopping => "Engine: Stopping…".into(),
            EngineState::Error(e) => format!("Engine: Error — {}", first_line(e, 80)),
        }
    }

    /// Which of Start / Stop / Restart make sense now.
    pub fn actions(&self) -> Actions {
        match self {
            EngineState::Running => Actions {
                start: false,
                stop: true,
                restart: true,
            },
            EngineState::Stopped | EngineState::Checking => Actions {
                start: true,
                stop: false,
                restart: false,
            },
            // After a failure the engine may be up, down or half-way: let the user retry anything.
            EngineState::Error(_) => Actions {
                start: true,
                stop: true,
                restart: true,
            },
            // One action at a time: a second click would race the first.
            EngineState::Starting | EngineState::Stopping => Actions {
                start: false,
                stop: false,
                restart: false,
            },
        }
    }

    /// The state after the engine reported itself up or down. While a start is under
    /// way, "down" is expected and does not end it; while a stop is under way, "up" is
    /// the engine still shutting down.
    pub fn on_engine(&self, running: bool) -> EngineState {
        match (self, running) {
            (EngineState::Starting, false) => EngineState::Starting,
            (EngineState::Stopping, true) => EngineState::Stopping,
            (_, true) => EngineState::Running,
            (_, false) => EngineState::Stopped,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    pub start: bool,
    pub stop: bool,
    pub restart: bool,
}

fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_reports_move_the_state() {
        assert_eq!(EngineState::Checking.on_engine(true), EngineState::Running);
        assert_eq!(EngineState::Running.on_engine(false), EngineState::Stopped);
        assert_eq!(
            EngineState::Error("boom".into()).on_engine(true),
            EngineState::Running
        );
    }

    #[test]
    fn user_actions_are_not_undone_by_stale_reports() {
        assert_eq!(
            EngineState::Starting.on_engine(false),
            EngineState::Starting
        );
        assert_eq!(EngineState::Starting.on_engine(true), EngineState::Running);
        assert_eq!(EngineState::Stopping.on_engine(true), EngineState::Stopping);
        assert_eq!(EngineState::Stopping.on_engine(false), EngineState::Stopped);
    }

    #[test]
    fn labels_and_actions() {
        assert_eq!(EngineState::Running.label(), "Engine: Running");
        let a = EngineState::Running.actions();
        assert!(!a.start && a.stop && a.restart);
        let a = EngineState::Stopped.actions();
        assert!(a.start && !a.stop && !a.restart);
        let a = EngineState::Error("x".into()).actions();
        assert!(a.start && a.stop && a.restart);
        let a = EngineState::Starting.actions();
        assert!(!a.start && !a.stop && !a.restart);
        let long = EngineState::Error(format!("\n{}\nsecond", "x".repeat(200))).label();
        assert!(long.ends_with('…') && !long.contains("second"), "{long}");
    }
}
