//! Docker's seccomp profile format (`docker run --security-opt seccomp=…`,
//! `daemon.json` `seccomp-profile`) and its conversion to the OCI runtime
//! spec's `LinuxSeccomp`, with the same rule selection as moby
//! (`github.com/moby/profiles/seccomp`, `setupSeccomp`):
//!
//! - a rule is kept only if none of its `excludes` match and all of its
//!   `includes` match;
//! - `caps`: `includes.caps` needs *every* listed capability, `excludes.caps`
//!   drops the rule when *any* listed capability is present (moby checks the
//!   bounding set, which docker makes equal to the effective set);
//! - `arches`: compared with the host's libseccomp-style name only (`amd64`,
//!   `arm64`, …), never with its sub-architectures, so `"x32"` in a filter
//!   does not match an x86_64 host;
//! - `minKernel`: `"<kernel>.<major>"`, true when the running kernel's
//!   (kernel, major) is greater than or equal to it;
//! - `archMap`: the first entry whose `architecture` is the host's gives the
//!   filter's architectures (it and its `subArchitectures`); `architectures`
//!   and `archMap` together are an error.
//!
//! Unknown JSON keys are ignored as docker ignores them (every key docker
//! understands is modelled here). Values docker would hand to the runtime
//! unchecked (actions, operators, architectures, flags) are checked while
//! parsing, so a bad profile is refused at `docker run` with the place of the
//! mistake rather than by the runtime at start.

use std::path::PathBuf;
use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder,
};
use serde::Deserialize;
use serde_json::Value;

use crate::errdefs::Error;

// Docker's default profile, byte-for-byte from moby/profiles seccomp/default.json (Apache-2.0: LICENSE-seccomp-default beside this file).
const DEFAULT_PROFILE_JSON: &str = include_str!("seccomp-default.json");

/// A parsed docker seccomp profile: validated, not yet specialised to a
/// container (that is [`Profile::to_oci`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// `None` only for a profile with no `defaultAction` and no `syscalls`,
    /// which docker runs unconfined.
    default_action: Option<LinuxSeccompAction>,
    default_errno_ret: Option<u32>,
    architectures: Vec<Arch>,
    arch_map: Vec<ArchMapEntry>,
    flags: Vec<LinuxSeccompFilterFlag>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
struct ArchMapEntry {
    arch: Arch,
    sub_arches: Vec<Arch>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
    includes: Filter,
    excludes: Filter,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Filter {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<(u32, u32)>,
}

// The JSON as written. Everything is optional because Go's decoder accepts
// missing keys and nulls everywhere; what is really required is checked in
// `Profile::from_raw`, where the message can say which entry is wrong.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    default_action: Option<String>,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<String>>,
    arch_map: Option<Vec<RawArchMap>>,
    flags: Option<Vec<String>>,
    listener_path: Option<String>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<RawSyscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArchMap {
    architecture: Option<String>,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    name: Option<String>,
    names: Option<Vec<String>>,
    action: Option<String>,
    errno_ret: Option<u32>,
    args: Option<Vec<RawArg>>,
    includes: Option<RawFilter>,
    excludes: Option<RawFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    index: Option<usize>,
    value: Option<u64>,
    value_two: Option<u64>,
    op: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFilter {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    // A Value so that a number here gets moby's "expected <kernel>.<major>"
    // message instead of serde's type error.
    min_kernel: Option<Value>,
}

const ACTIONS: &[(&str, LinuxSeccompAction)] = &[
    ("SCMP_ACT_KILL", LinuxSeccompAction::ScmpActKill),
    (
        "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActKillProcess,
    ),
    (
        "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillThread,
    ),
    ("SCMP_ACT_TRAP", LinuxSeccompAction::ScmpActTrap),
    ("SCMP_ACT_ERRNO", LinuxSeccompAction::ScmpActErrno),
    ("SCMP_ACT_TRACE", LinuxSeccompAction::ScmpActTrace),
    ("SCMP_ACT_ALLOW", LinuxSeccompAction::ScmpActAllow),
    ("SCMP_ACT_LOG", LinuxSeccompAction::ScmpActLog),
    ("SCMP_ACT_NOTIFY", LinuxSeccompAction::ScmpActNotify),
];

const OPERATORS: &[(&str, LinuxSeccompOperator)] = &[
    ("SCMP_CMP_NE", LinuxSeccompOperator::ScmpCmpNe),
    ("SCMP_CMP_LT", LinuxSeccompOperator::ScmpCmpLt),
    ("SCMP_CMP_LE", LinuxSeccompOperator::ScmpCmpLe),
    ("SCMP_CMP_EQ", LinuxSeccompOperator::ScmpCmpEq),
    ("SCMP_CMP_GE", LinuxSeccompOperator::ScmpCmpGe),
    ("SCMP_CMP_GT", LinuxSeccompOperator::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", LinuxSeccompOperator::ScmpCmpMaskedEq),
];

const FLAGS: &[(&str, LinuxSeccompFilterFlag)] = &[
    (
        "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    ),
    (
        "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    ),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ),
];

/// The kernel's syscall ABI passes six arguments (indexes 0-5); libseccomp
/// refuses others, so a larger index is refused here with a clearer message.
const MAX_ARG_INDEX: usize = 5;

fn lookup<T: Copy>(table: &[(&str, T)], what: &str, kind: &str, value: &str) -> Result<T, Error> {
    table
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
            invalid(format!(
                "{what}: unknown {kind} {value:?} (expected one of {})",
                known.join(", ")
            ))
        })
}

fn invalid(message: String) -> Error {
    Error::invalid(format!("invalid seccomp profile: {message}"))
}

fn parse_arch(what: &str, value: &str) -> Result<Arch, Error> {
    // oci-spec's serde names are exactly libseccomp's SCMP_ARCH_* spelling.
    serde_json::from_value(Value::String(value.to_string()))
        .map_err(|_| invalid(format!("{what}: unknown architecture {value:?}")))
}

/// moby's `KernelVersion.UnmarshalJSON`: exactly two dot-separated numbers
/// that fit in a byte, not "0.0"; an empty string means "no condition".
fn parse_min_kernel(what: &str, value: &Value) -> Result<Option<(u32, u32)>, Error> {
    let bad = |why: &str| {
        invalid(format!(
            "{what}: invalid kernel version {value}, expected \"<kernel>.<major>\"{why}"
        ))
    };
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s,
        _ => return Err(bad("")),
    };
    let parts: Vec<&str> = text.splitn(3, '.').collect();
    let [kernel, major] = parts[..] else {
        return Err(bad(""));
    };
    let number = |s: &str| {
        s.parse::<u8>()
            .map(u32::from)
            .map_err(|_| bad(&format!(": {s:?} is not a number from 0 to 255")))
    };
    let version = (number(kernel)?, number(major)?);
    if version == (0, 0) {
        return Err(bad(": version cannot be 0.0"));
    }
    Ok(Some(version))
}

fn strings(list: Option<Vec<String>>) -> Vec<String> {
    list.unwrap_or_default()
}

impl Filter {
    fn from_raw(what: &str, raw: Option<RawFilter>) -> Result<Filter, Error> {
        let Some(raw) = raw else {
            return Ok(Filter::default());
        };
        let min_kernel = match &raw.min_kernel {
            Some(v) => parse_min_kernel(&format!("{what}.minKernel"), v)?,
            None => None,
        };
        Ok(Filter {
            caps: strings(raw.caps),
            arches: strings(raw.arches),
            min_kernel,
        })
    }
}

impl Rule {
    fn from_raw(index: usize, raw: RawSyscall) -> Result<Rule, Error> {
        let names = match (raw.name, raw.names) {
            (Some(name), Some(names)) if !name.is_empty() && !names.is_empty() => {
                return Err(invalid(format!(
                    "syscalls[{index}]: both 'name' and 'names' are specified, use either 'name' or 'names'"
                )));
            }
            (Some(name), _) if !name.is_empty() => vec![name],
            (_, names) => strings(names),
        };
        // Name the entry by its first syscall too: indexes alone are hard to
        // find in a 400-line profile.
        let what = match names.first() {
            Some(first) => format!("syscalls[{index}] ({first:?})"),
            None => format!("syscalls[{index}]"),
        };
        let action = match raw.action.as_deref() {
            None | Some("") => return Err(invalid(format!("{what}: 'action' is missing"))),
            Some(a) => lookup(ACTIONS, &what, "action", a)?,
        };
        let mut args = Vec::new();
        for (n, arg) in raw.args.unwrap_or_default().into_iter().enumerate() {
            let at = format!("{what}.args[{n}]");
            let op = match arg.op.as_deref() {
                None | Some("") => return Err(invalid(format!("{at}: 'op' is missing"))),
                Some(op) => lookup(OPERATORS, &at, "operator", op)?,
            };
            let index = arg.index.unwrap_or(0);
            if index > MAX_ARG_INDEX {
                return Err(invalid(format!(
                    "{at}: index {index} is out of range (syscall arguments are 0 to {MAX_ARG_INDEX})"
                )));
            }
            let mut builder = LinuxSeccompArgBuilder::default()
                .index(index)
                .value(arg.value.unwrap_or(0))
                .op(op);
            // Docker's JSON omits a zero valueTwo; leaving it out keeps the
            // generated spec identical to dockerd's.
            if let Some(two) = arg.value_two.filter(|v| *v != 0) {
                builder = builder.value_two(two);
            }
            args.push(builder.build().map_err(|e| invalid(format!("{at}: {e}")))?);
        }
        Ok(Rule {
            includes: Filter::from_raw(&format!("{what}.includes"), raw.includes)?,
            excludes: Filter::from_raw(&format!("{what}.excludes"), raw.excludes)?,
            names,
            action,
            errno_ret: raw.errno_ret,
            args,
        })
    }

    fn applies(&self, caps: &[String], arch: Option<&str>, kernel: (u32, u32)) -> bool {
        let has_cap = |c: &String| caps.contains(c);
        let arch_in = |list: &[String]| arch.is_some_and(|a| list.iter().any(|x| x == a));
        let excluded = arch_in(&self.excludes.arches)
            || self.excludes.caps.iter().any(has_cap)
            || self.excludes.min_kernel.is_some_and(|min| kernel >= min);
        let included = (self.includes.arches.is_empty() || arch_in(&self.includes.arches))
            && self.includes.caps.iter().all(has_cap)
            && self.includes.min_kernel.is_none_or(|min| kernel >= min);
        !excluded && included
    }

    fn to_oci(&self) -> Result<LinuxSyscall, Error> {
        let mut builder = LinuxSyscallBuilder::default()
            .names(self.names.clone())
            .action(self.action);
        if let Some(errno) = self.errno_ret {
            builder = builder.errno_ret(errno);
        }
        if !self.args.is_empty() {
            builder = builder.args(self.args.clone());
        }
        builder
            .build()
            .map_err(|e| Error::system(format!("building seccomp rule: {e}")))
    }
}

/// The host's architecture as moby's filters name it (libseccomp's names,
/// from Go's GOARCH) and as its `archMap` keys it. Accepts Rust's
/// `std::env::consts::ARCH` spelling and the libseccomp spelling.
fn host_arch(arch: &str) -> Option<(&'static str, Arch)> {
    let little = cfg!(target_endian = "little");
    Some(match arch {
        "x86_64" | "amd64" => ("amd64", Arch::ScmpArchX86_64),
        "x86" | "i386" | "i686" => ("x86", Arch::ScmpArchX86),
        "aarch64" | "arm64" => ("arm64", Arch::ScmpArchAarch64),
        "arm" => ("arm", Arch::ScmpArchArm),
        "riscv64" => ("riscv64", Arch::ScmpArchRiscv64),
        "s390x" => ("s390x", Arch::ScmpArchS390x),
        // moby's tables disagree on loong64's key, so it never expands the
        // archMap there; the default profile maps it to itself alone, which
        // is what libseccomp does with no list, so expanding it is harmless.
        "loongarch64" | "loong64" => ("loongarch64", Arch::ScmpArchLoongarch64),
        // Rust names both endiannesses alike; GOARCH does not.
        "powerpc64" if little => ("ppc64le", Arch::ScmpArchPpc64le),
        "powerpc64" | "ppc64" => ("ppc64", Arch::ScmpArchPpc64),
        "ppc64le" => ("ppc64le", Arch::ScmpArchPpc64le),
        "powerpc" | "ppc" => ("ppc", Arch::ScmpArchPpc),
        "mips64" if little => ("mipsel64", Arch::ScmpArchMipsel64),
        "mips64" => ("mips64", Arch::ScmpArchMips64),
        "mipsel64" => ("mipsel64", Arch::ScmpArchMipsel64),
        _ => return None,
    })
}

impl Profile {
    /// Docker's default profile, parsed on first use.
    pub fn default_profile() -> &'static Profile {
        static DEFAULT: OnceLock<Profile> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            Profile::parse(DEFAULT_PROFILE_JSON)
                .expect("the embedded default seccomp profile is valid (see its test)")
        })
    }

    /// Parses a profile in docker's JSON format: the content of the file the
    /// CLI sends as `SecurityOpt` `seccomp=<json>`, or daemon.json's
    /// `seccomp-profile` file.
    pub fn parse(json: &str) -> Result<Profile, Error> {
        // dockerd's wording, so that scripts and people recognise it.
        let raw: RawProfile = serde_json::from_str(json)
            .map_err(|e| Error::invalid(format!("Decoding seccomp profile failed: {e}")))?;
        Profile::from_raw(raw)
    }

    fn from_raw(raw: RawProfile) -> Result<Profile, Error> {
        let syscalls = raw.syscalls.unwrap_or_default();
        let default_action = match raw.default_action.as_deref() {
            None | Some("") if syscalls.is_empty() => None,
            None | Some("") => {
                return Err(invalid(
                    "'defaultAction' is missing (a profile with syscall rules needs one)".into(),
                ))
            }
            Some(a) => Some(lookup(ACTIONS, "defaultAction", "action", a)?),
        };
        if default_action == Some(LinuxSeccompAction::ScmpActNotify) {
            return Err(invalid(
                "defaultAction: SCMP_ACT_NOTIFY cannot be the default action".into(),
            ));
        }

        let architectures = strings(raw.architectures);
        let arch_map = raw.arch_map.unwrap_or_default();
        if !architectures.is_empty() && !arch_map.is_empty() {
            return Err(invalid(
                "both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'".into(),
            ));
        }
        let architectures = architectures
            .iter()
            .enumerate()
            .map(|(i, a)| parse_arch(&format!("architectures[{i}]"), a))
            .collect::<Result<Vec<_>, _>>()?;
        let arch_map = arch_map
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let what = format!("archMap[{i}]");
                let arch = match entry.architecture.as_deref() {
                    None | Some("") => {
                        return Err(invalid(format!("{what}: 'architecture' is missing")))
                    }
                    Some(a) => parse_arch(&what, a)?,
                };
                let sub_arches = strings(entry.sub_architectures)
                    .iter()
                    .map(|s| parse_arch(&format!("{what}.subArchitectures"), s))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ArchMapEntry { arch, sub_arches })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let flags = strings(raw.flags)
            .iter()
            .enumerate()
            .map(|(i, f)| lookup(FLAGS, &format!("flags[{i}]"), "flag", f))
            .collect::<Result<Vec<_>, _>>()?;

        let listener_path = raw
            .listener_path
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        if let Some(path) = &listener_path {
            if !path.is_absolute() {
                return Err(invalid(format!(
                    "listenerPath {:?} must be an absolute path",
                    path.display().to_string()
                )));
            }
        }

        let rules = syscalls
            .into_iter()
            .enumerate()
            .map(|(i, raw)| Rule::from_raw(i, raw))
            .collect::<Result<Vec<_>, _>>()?;
        // Without a listener the runtime has nobody to hand the notification
        // fd to and refuses to start the container; say so now.
        if listener_path.is_none() {
            if let Some(rule) = rules
                .iter()
                .find(|r| r.action == LinuxSeccompAction::ScmpActNotify)
            {
                return Err(invalid(format!(
                    "SCMP_ACT_NOTIFY (used for {:?}) needs 'listenerPath'",
                    rule.names
                )));
            }
        }

        Ok(Profile {
            default_action,
            default_errno_ret: raw.default_errno_ret,
            architectures,
            arch_map,
            flags,
            listener_path,
            listener_metadata: raw.listener_metadata.filter(|m| !m.is_empty()),
            rules,
        })
    }

    /// A profile with neither `defaultAction` nor `syscalls`: docker runs the
    /// container without seccomp, and so must the caller (`to_oci` refuses it).
    pub fn is_unconfined(&self) -> bool {
        self.default_action.is_none()
    }

    /// The OCI seccomp for a container with these effective capabilities, on this architecture and kernel.
    ///
    /// `caps` are `CAP_SYS_ADMIN`-style names, compared exactly as moby does;
    /// `arch` is `std::env::consts::ARCH` (an architecture unknown here gets
    /// no architecture list, and `arches` filters never match it, as in moby);
    /// `kernel` is [`kernel_version`].
    pub fn to_oci(
        &self,
        caps: &[String],
        arch: &str,
        kernel: (u32, u32),
    ) -> Result<LinuxSeccomp, Error> {
        let Some(default_action) = self.default_action else {
            return Err(Error::invalid(
                "the seccomp profile has no defaultAction and no syscalls, which means unconfined",
            ));
        };
        let host = host_arch(arch);

        let mut architectures = self.architectures.clone();
        if let Some((_, main)) = host {
            if let Some(entry) = self.arch_map.iter().find(|e| e.arch == main) {
                architectures.push(entry.arch);
                architectures.extend(entry.sub_arches.iter().copied());
            }
        }

        let native = host.map(|(name, _)| name);
        let syscalls = self
            .rules
            .iter()
            // An entry without names matches nothing; dropping it changes
            // nothing for the runtime and keeps the spec tidy.
            .filter(|r| !r.names.is_empty() && r.applies(caps, native, kernel))
            .map(Rule::to_oci)
            .collect::<Result<Vec<_>, _>>()?;

        let mut builder = LinuxSeccompBuilder::default().default_action(default_action);
        if !syscalls.is_empty() {
            builder = builder.syscalls(syscalls);
        }
        if let Some(errno) = self.default_errno_ret {
            builder = builder.default_errno_ret(errno);
        }
        if !architectures.is_empty() {
            builder = builder.architectures(architectures);
        }
        if !self.flags.is_empty() {
            builder = builder.flags(self.flags.clone());
        }
        if let Some(path) = &self.listener_path {
            builder = builder.listener_path(path.clone());
        }
        if let Some(meta) = &self.listener_metadata {
            builder = builder.listener_metadata(meta.clone());
        }
        builder
            .build()
            .map_err(|e| Error::system(format!("building seccomp spec: {e}")))
    }
}

/// The running kernel's (version, major revision), e.g. "6.1.0-18-amd64" →
/// (6, 1). Read once: the kernel does not change under a running daemon.
pub fn kernel_version() -> (u32, u32) {
    static VERSION: OnceLock<(u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let uts = nix::sys::utsname::uname();
        let release = match &uts {
            Ok(uts) => uts.release().to_string_lossy().into_owned(),
            Err(e) => e.to_string(),
        };
        parse_release(&release).unwrap_or_else(|| {
            // (0, 0) makes every minKernel condition false: rules needing a
            // newer kernel stay out, the safe side for a sandbox.
            tracing::warn!(
                release,
                "cannot read the kernel version; seccomp minKernel rules will not apply"
            );
            (0, 0)
        })
    })
}

/// moby's `parseRelease` (`%d.%d`): the leading numbers, whatever follows
/// them ("3.12-1-amd64", "6.1.0-rc5").
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let (kernel, rest) = release.trim().split_once('.')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((kernel.parse().ok()?, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_CAPS: [&str; 14] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];

    fn caps(extra: &[&str]) -> Vec<String> {
        DEFAULT_CAPS
            .iter()
            .chain(extra)
            .map(|c| c.to_string())
            .collect()
    }

    fn default_for(extra: &[&str], kernel: (u32, u32)) -> LinuxSeccomp {
        Profile::default_profile()
            .to_oci(&caps(extra), "x86_64", kernel)
            .unwrap()
    }

    /// Rules that can let `name` through: ALLOW, with or without arguments.
    fn allow_rules<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    fn allowed_always(s: &LinuxSeccomp, name: &str) -> bool {
        allow_rules(s, name)
            .iter()
            .any(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
    }

    #[test]
    fn embedded_profile_is_the_shared_spec_copy() {
        // The copy must stay byte-identical to docker's file; the spec folder
        // may be absent in a standalone checkout.
        if let Ok(shared) = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/seccomp-default.json"
        )) {
            assert_eq!(shared, DEFAULT_PROFILE_JSON);
        }
    }

    #[test]
    fn default_profile_defaults_to_eperm() {
        let s = default_for(&[], (6, 1));
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
    }

    #[test]
    fn default_profile_allows_common_syscalls() {
        let s = default_for(&[], (6, 1));
        for name in ["read", "write", "execve", "openat", "chroot"] {
            assert!(allowed_always(&s, name), "{name} should be allowed");
        }
        // clone is allowed, but only without namespace flags (next test).
        assert!(!allow_rules(&s, "clone").is_empty());
    }

    #[test]
    fn default_profile_denies_dangerous_syscalls() {
        let s = default_for(&[], (6, 1));
        for name in [
            "reboot",
            "kexec_load",
            "mount",
            "umount2",
            "unshare",
            "setns",
            "init_module",
            "bpf",
        ] {
            assert!(allow_rules(&s, name).is_empty(), "{name} should be denied");
        }
    }

    #[test]
    fn ptrace_follows_min_kernel() {
        assert!(allowed_always(&default_for(&[], (6, 1)), "ptrace"));
        assert!(allowed_always(&default_for(&[], (4, 8)), "ptrace"));
        assert!(allow_rules(&default_for(&[], (4, 4)), "ptrace").is_empty());
        // CAP_SYS_PTRACE's own rule has no kernel condition.
        assert!(allowed_always(
            &default_for(&["CAP_SYS_PTRACE"], (4, 4)),
            "ptrace"
        ));
    }

    #[test]
    fn cap_sys_admin_unlocks_admin_syscalls() {
        let s = default_for(&["CAP_SYS_ADMIN"], (6, 1));
        for name in ["mount", "umount2", "unshare", "setns", "clone", "clone3"] {
            assert!(allowed_always(&s, name), "{name} should be allowed");
        }
        // The excludes-caps rules (clone flag filter, clone3 ENOSYS) are gone.
        assert!(!s
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.names() == &["clone3".to_string()]
                && r.action() == LinuxSeccompAction::ScmpActErrno));
        // Still a sandbox: reboot needs CAP_SYS_BOOT.
        assert!(allow_rules(&s, "reboot").is_empty());
    }

    #[test]
    fn includes_caps_needs_every_cap_excludes_caps_any() {
        let profile = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["both"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_A","CAP_B"]}},
                {"names":["unless"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_A","CAP_B"]}}]}"#,
        )
        .unwrap();
        let names = |caps: &[&str]| -> Vec<String> {
            let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
            let s = profile.to_oci(&caps, "x86_64", (6, 1)).unwrap();
            s.syscalls()
                .iter()
                .flatten()
                .flat_map(|r| r.names().clone())
                .collect()
        };
        assert_eq!(names(&[]), ["unless"]);
        assert_eq!(names(&["CAP_A"]), Vec::<String>::new());
        assert_eq!(names(&["CAP_B", "CAP_A"]), ["both"]);
    }

    #[test]
    fn clone_flag_filter_for_unprivileged_containers() {
        let s = default_for(&[], (6, 1));
        let clone = allow_rules(&s, "clone");
        assert_eq!(clone.len(), 1, "only the x86 variant, not s390's");
        let args = clone[0].args().as_ref().unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        // CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP must all be clear.
        assert_eq!(args[0].value(), 2114060288);
        // clone3 cannot be filtered by flags: ENOSYS makes libc fall back to clone.
        let clone3: Vec<_> = s
            .syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == "clone3"))
            .collect();
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
    }

    #[test]
    fn arch_rules_follow_the_host() {
        let x86 = default_for(&[], (6, 1));
        assert!(allowed_always(&x86, "arch_prctl"));
        assert!(allowed_always(&x86, "modify_ldt"));
        assert!(allow_rules(&x86, "set_tls").is_empty());
        assert!(allow_rules(&x86, "s390_runtime_instr").is_empty());

        let arm = Profile::default_profile()
            .to_oci(&caps(&[]), "aarch64", (6, 1))
            .unwrap();
        assert!(allowed_always(&arm, "set_tls"));
        assert!(allow_rules(&arm, "arch_prctl").is_empty());
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );

        let s390 = Profile::default_profile()
            .to_oci(&caps(&[]), "s390x", (6, 1))
            .unwrap();
        let clone = allow_rules(&s390, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_ref().unwrap()[0].index(), 1);
    }

    #[test]
    fn x86_64_arch_list_has_sub_arches() {
        let s = default_for(&[], (6, 1));
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        // An architecture the tables do not know: no list, like moby.
        let other = Profile::default_profile()
            .to_oci(&caps(&[]), "sparc64", (6, 1))
            .unwrap();
        assert_eq!(other.architectures(), &None);
    }

    #[test]
    fn custom_profile_converts() {
        let profile = Profile::parse(
            r#"{
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [
                    {"name": "chmod", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "legacy name"},
                    {"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS",
                     "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
                    {"names": ["sync"], "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "5.0"}},
                    {"names": ["mkdir"], "action": "SCMP_ACT_TRAP", "includes": {"arches": ["arm64"]}}
                ],
                "someFutureKey": true
            }"#,
        )
        .unwrap();
        assert!(!profile.is_unconfined());
        let s = profile.to_oci(&[], "x86_64", (4, 19)).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(s.default_errno_ret(), None);
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
        assert_eq!(
            s.flags().as_deref(),
            Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
        );
        let rules = s.syscalls().as_ref().unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].names(), &["chmod".to_string()]);
        assert_eq!(rules[0].errno_ret(), Some(13));
        let arg = rules[1].args().as_ref().unwrap()[0];
        assert_eq!(
            (arg.index(), arg.value(), arg.value_two()),
            (0, 255, Some(8))
        );
        assert_eq!(rules[2].action(), LinuxSeccompAction::ScmpActLog);

        // excludes.minKernel: gone once the kernel reaches it.
        let newer = profile.to_oci(&[], "x86_64", (5, 0)).unwrap();
        assert_eq!(newer.syscalls().as_ref().unwrap().len(), 2);
    }

    #[test]
    fn empty_profile_is_unconfined() {
        let profile = Profile::parse("{}").unwrap();
        assert!(profile.is_unconfined());
        assert!(profile.to_oci(&[], "x86_64", (6, 1)).is_err());
        assert!(!Profile::default_profile().is_unconfined());
    }

    fn error_of(json: &str) -> String {
        Profile::parse(json).unwrap_err().message
    }

    #[test]
    fn bad_json_is_reported() {
        let e = error_of(r#"{"defaultAction": "SCMP_ACT_ERRNO", "#);
        assert!(e.starts_with("Decoding seccomp profile failed:"), "{e}");
        let e = error_of(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}"#);
        assert!(e.contains("invalid type"), "{e}");
        let e = error_of(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}"#);
        assert!(e.contains("-1"), "{e}");
    }

    #[test]
    fn bad_values_name_their_place() {
        let e = error_of(r#"{"defaultAction": "SCMP_ACT_DENY"}"#);
        assert!(
            e.contains("defaultAction") && e.contains("\"SCMP_ACT_DENY\""),
            "{e}"
        );
        assert!(e.contains("SCMP_ACT_ALLOW"), "lists the known actions: {e}");

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["mount"],"action":"ALLOW"}]}"#,
        );
        assert!(
            e.contains(r#"syscalls[1] ("mount"): unknown action "ALLOW""#),
            "{e}"
        );

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_SAME"}]}]}"#,
        );
        assert!(
            e.contains("args[0]: unknown operator \"SCMP_CMP_SAME\""),
            "{e}"
        );

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(e.contains("index 6 is out of range"), "{e}");

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8.1"}}]}"#,
        );
        assert!(
            e.contains("includes.minKernel") && e.contains("<kernel>.<major>"),
            "{e}"
        );
        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"0.0"}}]}"#,
        );
        assert!(e.contains("cannot be 0.0"), "{e}");

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(e.contains("both 'name' and 'names'"), "{e}");

        let e = error_of(r#"{"syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert!(e.contains("'defaultAction' is missing"), "{e}");

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
        );
        assert!(e.contains("both 'architectures' and 'archMap'"), "{e}");

        let e = error_of(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]}"#);
        assert!(
            e.contains("architectures[0]: unknown architecture \"SCMP_ARCH_VAX\""),
            "{e}"
        );

        let e =
            error_of(r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_NOPE"]}"#);
        assert!(e.contains("flags[0]: unknown flag"), "{e}");

        let e = error_of(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(e.contains("needs 'listenerPath'"), "{e}");
        let ok = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","listenerMetadata":"m",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap()
        .to_oci(&[], "x86_64", (6, 1))
        .unwrap();
        assert_eq!(
            ok.listener_path().as_deref(),
            Some(std::path::Path::new("/run/agent.sock"))
        );

        for e in [
            error_of(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#),
            error_of(r#"{"defaultAction":"SCMP_ACT_DENY"}"#),
        ] {
            assert!(e.starts_with("invalid seccomp profile: "), "{e}");
        }
    }

    #[test]
    fn oci_json_shape() {
        let s = default_for(&[], (6, 1));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let rules = v["syscalls"].as_array().unwrap();
        assert_eq!(rules[0]["action"], "SCMP_ACT_ALLOW");
        assert!(rules[0]["names"].as_array().unwrap().len() > 300);
        assert!(rules[0].get("args").is_none() && rules[0].get("errnoRet").is_none());
        let clone = rules
            .iter()
            .find(|r| r["names"] == serde_json::json!(["clone"]))
            .unwrap();
        assert_eq!(
            clone["args"],
            serde_json::json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        let clone3 = rules
            .iter()
            .find(|r| r["names"] == serde_json::json!(["clone3"]))
            .unwrap();
        assert_eq!(clone3["errnoRet"], 38);
        // No Berth-only keys: only what runtime-spec defines.
        let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "architectures",
                "defaultAction",
                "defaultErrnoRet",
                "syscalls"
            ]
        );
    }

    #[test]
    fn release_parsing() {
        assert_eq!(parse_release("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_release("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_release("4.19.0-rc5"), Some((4, 19)));
        assert_eq!(
            parse_release("5.15.153.1-microsoft-standard-WSL2"),
            Some((5, 15))
        );
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release("garbage"), None);
        let (major, _) = kernel_version();
        assert!(major >= 3, "running on a real kernel");
    }
}
