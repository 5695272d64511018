//! The JSON progress stream of pull/push/load (moby's jsonmessage format),
//! which the docker CLI renders as progress bars.

use serde::Serialize;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Message {
    /// Text the CLI prints as it is (a build's steps and output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Detail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorDetail {
    pub message: String,
}

impl Message {
    pub fn status(status: impl Into<String>) -> Self {
        Message {
            status: Some(status.into()),
            ..Default::default()
        }
    }

    pub fn with_id(status: impl Into<String>, id: impl Into<String>) -> Self {
        Message {
            status: Some(status.into()),
            progress_detail: Some(Detail::default()),
            id: Some(id.into()),
            ..Default::default()
        }
    }

    pub fn progress(status: &str, id: &str, current: u64, total: Option<u64>) -> Self {
        Message {
            status: Some(status.into()),
            progress_detail: Some(Detail {
                current: Some(current),
                total,
            }),
            progress: Some(bar(current, total)),
            id: Some(id.into()),
            ..Default::default()
        }
    }

    pub fn stream(text: impl Into<String>) -> Self {
        Message {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Message {
            error: Some(message.clone()),
            error_detail: Some(ErrorDetail { message }),
            ..Default::default()
        }
    }

    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.extend_from_slice(b"\r\n");
        v
    }
}

/// `[=====>      ]  1.05MB/4.2MB`, the text the CLI shows when it is not a terminal.
pub fn bar(current: u64, total: Option<u64>) -> String {
    const WIDTH: u64 = 50;
    match total {
        Some(total) if total > 0 => {
            let filled = (current.min(total) * WIDTH / total) as usize;
            let arrow = if filled < WIDTH as usize { ">" } else { "" };
            let pad = (WIDTH as usize).saturating_sub(filled + arrow.len());
            format!(
                "[{}{}{}] {:>8}/{}",
                "=".repeat(filled),
                arrow,
                " ".repeat(pad),
                human_size(current),
                human_size(total)
            )
        }
        _ => format!("{:>8}", human_size(current)),
    }
}

/// Decimal sizes with three significant digits, as docker prints them ("1.23MB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let text = format!("{v:.4}");
    // Keep three significant digits, then drop trailing zeros.
    let digits_before = text.find('.').unwrap_or(text.len());
    let keep = 3usize.saturating_sub(digits_before);
    let mut s = format!("{v:.keep$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

/// Where a long operation reports progress. Sending never fails the operation:
/// a client that went away must not abort a pull other clients may share.
#[derive(Clone)]
pub struct Sink {
    tx: Option<mpsc::Sender<Message>>,
}

impl Sink {
    pub fn new(tx: mpsc::Sender<Message>) -> Self {
        Sink { tx: Some(tx) }
    }

    /// A sink that discards everything (internal pulls, tests).
    pub fn discard() -> Self {
        Sink { tx: None }
    }

    pub async fn send(&self, m: Message) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(m).await;
        }
    }

    /// Progress ticks may be dropped when the client reads slowly.
    pub fn try_send(&self, m: Message) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }

    #[test]
    fn messages_serialise_as_jsonmessage() {
        let m = Message::progress("Downloading", "abc", 5, Some(10));
        let v: serde_json::Value = serde_json::from_slice(&m.to_line()).unwrap();
        assert_eq!(v["progressDetail"]["current"], 5);
        assert_eq!(v["progressDetail"]["total"], 10);
        assert_eq!(v["id"], "abc");
        assert!(v["progress"].as_str().unwrap().starts_with("[====="));
        let e: serde_json::Value =
            serde_json::from_slice(&Message::error("boom").to_line()).unwrap();
        assert_eq!(e["errorDetail"]["message"], "boom");
        assert_eq!(e["error"], "boom");
    }
}
