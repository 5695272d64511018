//! The kernel command line words the init reads (`berth.*`); everything else
//! is the kernel's business and ignored.

use std::path::PathBuf;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BootConfig {
    /// The data disk's device (`berth.data=/dev/vda`).
    pub data: Option<PathBuf>,
    /// virtio-fs shares: (tag, absolute mount point), `berth.shares=T=/p,T2=/q`.
    pub shares: Vec<(String, PathBuf)>,
    /// The host's clock at boot, in Unix seconds (`berth.time=`).
    pub time: Option<i64>,
    /// Debug only: berthd also listens on plain TCP 2375 (`berth.debug_tcp=1`).
    pub debug_tcp: bool,
}

/// Parses `/proc/cmdline`. Malformed `berth.*` words are reported and skipped:
/// a typo must not stop the VM from booting.
pub fn parse(cmdline: &str) -> (BootConfig, Vec<String>) {
    let mut cfg = BootConfig::default();
    let mut problems = Vec::new();
    for word in cmdline.split_ascii_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "berth.data" => cfg.data = Some(PathBuf::from(value)),
            "berth.time" => match value.parse() {
                Ok(t) => cfg.time = Some(t),
                Err(_) => problems.push(format!("berth.time={value}: not a number of seconds")),
            },
            "berth.debug_tcp" => cfg.debug_tcp = matches!(value, "1" | "true" | "yes"),
            "berth.shares" => {
                for share in value.split(',').filter(|s| !s.is_empty()) {
                    match share.split_once('=') {
                        Some((tag, path)) if !tag.is_empty() && path.starts_with('/') => {
                            cfg.shares.push((tag.to_string(), PathBuf::from(path)))
                        }
                        _ => problems
                            .push(format!("berth.shares: {share:?} is not TAG=/absolute/path")),
                    }
                }
            }
            _ => {}
        }
    }
    (cfg, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_berth_words_and_ignores_the_rest() {
        let (cfg, problems) = parse(
            "console=ttyS0 panic=-1 berth.data=/dev/vda berth.shares=home=/home/me,tmp=/tmp/x \
             berth.time=1763900000 quiet berth.debug_tcp=1\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            cfg,
            BootConfig {
                data: Some("/dev/vda".into()),
                shares: vec![
                    ("home".into(), "/home/me".into()),
                    ("tmp".into(), "/tmp/x".into())
                ],
                time: Some(1_763_900_000),
                debug_tcp: true,
            }
        );
    }

    #[test]
    fn bad_words_are_reported_not_fatal() {
        let (cfg, problems) = parse("berth.time=soon berth.shares=home,x=relative,ok=/ok");
        assert_eq!(cfg.time, None);
        assert_eq!(cfg.shares, vec![("ok".to_string(), PathBuf::from("/ok"))]);
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn nothing_given_means_defaults() {
        assert_eq!(parse("").0, BootConfig::default());
    }
}
