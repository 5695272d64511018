//! Kernel modules: the image lists them, dependencies first, in
//! `/etc/berth/modules.load` (made at build time with modprobe --show-depends);
//! the init loads each file with finit_module(2).

use std::path::{Path, PathBuf};

pub const LIST: &str = "/etc/berth/modules.load";

/// The module files of the list, in order, without duplicates; blank lines
/// and `#` comments are skipped, and a `insmod PATH` line (modprobe's own
/// output format) is accepted as PATH.
pub fn parse_list(text: &str) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.strip_prefix("insmod ").unwrap_or(l).trim())
        .map(|l| l.split_whitespace().next().unwrap_or(l))
        .filter(|l| seen.insert(l.to_string()))
        .map(PathBuf::from)
        .collect()
}

/// Loads every module of the list; returns how many loaded and the failures
/// (a missing module is worth a warning, not a dead VM).
pub fn load_all(list: &Path) -> (usize, Vec<String>) {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) => return (0, vec![format!("{}: {e}", list.display())]),
    };
    let mut loaded = 0;
    let mut failed = Vec::new();
    for path in parse_list(&text) {
        match load(&path) {
            Ok(()) => loaded += 1,
            Err(e) => failed.push(format!("{}: {e}", path.display())),
        }
    }
    (loaded, failed)
}

fn load(path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
        // EEXIST: loaded already. ENODEV: a driver for hardware this VM
        // lacks (crc32c-intel without SSE4.2 under software emulation).
        Ok(()) | Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENODEV) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_keeps_order_and_drops_duplicates() {
        let text = "# made by build.sh\n\
                    insmod /lib/modules/6.1/kernel/a.ko \n\
                    /lib/modules/6.1/kernel/b.ko\n\
                    \n\
                    insmod /lib/modules/6.1/kernel/a.ko\n\
                    insmod /lib/modules/6.1/kernel/c.ko opt=1\n";
        assert_eq!(
            parse_list(text),
            ["a", "b", "c"]
                .map(|m| PathBuf::from(format!("/lib/modules/6.1/kernel/{m}.ko")))
                .to_vec()
        );
    }
}
