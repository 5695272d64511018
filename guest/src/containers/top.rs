//! `docker top`: the host's `ps` output, cut down to the container's
//! processes, parsed the way dockerd does so `ps_args` behave the same.

use std::process::Command;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Runs `ps <ps_args> -q<pids>` (default args `-ef`). Some ps options
/// (like `f`) refuse `-q`, so on failure it retries without it and relies
/// on the filtering in [`parse_ps`], like dockerd.
pub fn top(pids: &[i32], ps_args: &str) -> Result<Top, String> {
    let ps_args = if ps_args.is_empty() { "-ef" } else { ps_args };
    validate_ps_args(ps_args)?;
    // dockerd splits on single spaces and hands ps an empty argument for
    // each doubled space, which ps rejects; whitespace runs are kinder.
    let args: Vec<&str> = ps_args.split_ascii_whitespace().collect();
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    let quick = format!("-q{}", list.join(","));
    let output = match run_ps(&args, Some(&quick)) {
        Ok(out) => out,
        Err(_) => run_ps(&args, None).map_err(|e| format!("ps: {e}"))?,
    };
    parse_ps(&output, pids)
}

/// stdout, or the error dockerd would report: the first line of ps's
/// stderr, else `exit status N`.
fn run_ps(args: &[&str], extra: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new(ps_binary());
    cmd.args(args).args(extra);
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    match stderr.lines().next().filter(|l| !l.is_empty()) {
        Some(line) => Err(line.to_string()),
        None => Err(match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "signal: killed".to_string(),
        }),
    }
}

/// dockerd runs `ps` from its PATH; a daemon started with a bare
/// environment may have none, so fall back to the usual places.
fn ps_binary() -> &'static str {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("ps").is_file()));
    if on_path {
        return "ps";
    }
    ["/bin/ps", "/usr/bin/ps"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or("ps")
}

/// Go's `\s`: ASCII whitespace only (moby#24358 avoids Unicode spaces).
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

fn fields(s: &str) -> Vec<&str> {
    s.split(is_space).filter(|f| !f.is_empty()).collect()
}

/// Renaming a column to `PID` (`-o user=PID`) would make dockerd match the
/// wrong column against the container's pids, so it refuses
/// `<key>=PID…` unless the key is `pid`. This reproduces the matches of its
/// regexp `\s+([^\s]*)=\s*(PID[^\s]*)` (greedy: the last `=` that works).
pub(crate) fn validate_ps_args(ps_args: &str) -> Result<(), String> {
    let s = ps_args;
    let mut pos = 0;
    // A match starts at whitespace and takes the word after it.
    while let Some(ws) = s[pos..].find(is_space).map(|off| pos + off) {
        let word_start = skip_space(s, ws);
        let word_end = end_of_word(s, word_start);
        let word = &s[word_start..word_end];
        pos = word_end;
        for (eq, _) in word.rmatch_indices('=') {
            let (key, inline) = (&word[..eq], &word[eq + 1..]);
            // `=\s*` lets the value be the next word.
            let (value, end) = if inline.is_empty() {
                let v = skip_space(s, word_end);
                let v_end = end_of_word(s, v);
                (&s[v..v_end], v_end)
            } else {
                (inline, word_end)
            };
            if value.starts_with("PID") {
                if key != "pid" {
                    return Err(format!("specifying \"{key}={value}\" is not allowed"));
                }
                pos = end;
                break;
            }
        }
    }
    Ok(())
}

fn skip_space(s: &str, i: usize) -> usize {
    i + s[i..].find(|c| !is_space(c)).unwrap_or(s.len() - i)
}

fn end_of_word(s: &str, i: usize) -> usize {
    i + s[i..].find(is_space).unwrap_or(s.len() - i)
}

/// Keeps the header and the rows whose PID is one of `pids`. The last
/// column (CMD, COMMAND) can hold spaces, so each row is cut into as many
/// fields as there are titles, the last taking the rest. Rows with `-` as
/// PID are threads (`ps -m`) and follow their process.
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<Top, String> {
    let mut lines = output.split('\n');
    let titles: Vec<String> = fields(lines.next().unwrap_or(""))
        .into_iter()
        .map(String::from)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_string())?;
    let mut top = Top {
        titles,
        processes: Vec::new(),
    };
    let mut in_container = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let row = fields(line);
        let Some(pid) = row.get(pid_index) else {
            continue;
        };
        if *pid == "-" {
            if in_container {
                top.processes.push(shape(&row, top.titles.len()));
            }
            continue;
        }
        let pid: i32 = pid.parse().map_err(|_| {
            format!("Unexpected pid '{pid}': strconv.Atoi: parsing \"{pid}\": invalid syntax")
        })?;
        in_container = pids.contains(&pid);
        if in_container {
            top.processes.push(shape(&row, top.titles.len()));
        }
    }
    Ok(top)
}

fn shape(row: &[&str], n: usize) -> Vec<String> {
    let head = n.saturating_sub(1).min(row.len());
    let mut out: Vec<String> = row[..head].iter().map(|s| s.to_string()).collect();
    out.push(row[head..].join(" "));
    // A short row (never seen from ps) still gets one cell per title.
    out.resize(n.max(1), String::new());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root        4242       1  0 10:01 ?        00:00:00 nginx: master process nginx -g daemon off;
101         4250    4242  0 10:01 ?        00:00:00 nginx: worker process
me          9000    8000  0 10:02 pts/0    00:00:00 bash
";

    const PS_AUX: &str = "\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root           1  0.0  0.1 167744 11892 ?        Ss   10:00   0:01 /sbin/init
root          77  1.5  0.0   4364  3300 pts/0    S+   10:03   0:00 sleep\t30
";

    #[test]
    fn ps_ef_keeps_container_rows_and_whole_commands() {
        let top = parse_ps(PS_EF, &[4242, 4250, 31337]).unwrap();
        assert_eq!(
            top.titles,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(top.processes.len(), 2);
        assert_eq!(
            top.processes[0],
            [
                "root",
                "4242",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "nginx: master process nginx -g daemon off;"
            ]
        );
        assert_eq!(top.processes[1][7], "nginx: worker process");
    }

    #[test]
    fn ps_aux_finds_pid_column() {
        let top = parse_ps(PS_AUX, &[77]).unwrap();
        assert_eq!(top.titles.len(), 11);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "77");
        // Tabs count as separators, as Go's ASCII field split does.
        assert_eq!(top.processes[0][10], "sleep 30");
        assert!(parse_ps(PS_AUX, &[]).unwrap().processes.is_empty());
    }

    #[test]
    fn thread_rows_follow_their_process() {
        let out = "  PID   TID CMD\n  10     - app --flag\n    -    10 -\n    -    11 -\n  20     - other\n    -    20 -\n";
        let top = parse_ps(out, &[10]).unwrap();
        let pids: Vec<&str> = top.processes.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(pids, ["-", "10", "11"]);
        assert_eq!(top.processes[0], ["10", "-", "app --flag"]);
    }

    #[test]
    fn parse_errors_read_like_dockerd() {
        assert_eq!(
            parse_ps("USER COMMAND\nroot sh\n", &[1]).unwrap_err(),
            "Couldn't find PID field in ps output"
        );
        assert_eq!(
            parse_ps("PID CMD\nabc sh\n", &[1]).unwrap_err(),
            "Unexpected pid 'abc': strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            parse_ps("", &[1]).unwrap_err(),
            "Couldn't find PID field in ps output"
        );
    }

    #[test]
    fn renaming_a_column_to_pid_is_refused() {
        assert!(validate_ps_args("-ef").is_ok());
        assert!(validate_ps_args("-o pid=PID,cmd").is_ok());
        assert!(validate_ps_args("aux -o pid= PID").is_ok());
        // No whitespace before the word: the regexp needs one.
        assert!(validate_ps_args("user=PID").is_ok());
        assert_eq!(
            validate_ps_args("-o user=PID").unwrap_err(),
            "specifying \"user=PID\" is not allowed"
        );
        assert_eq!(
            validate_ps_args("-o user= PIDX,cmd").unwrap_err(),
            "specifying \"user=PIDX,cmd\" is not allowed"
        );
        assert_eq!(
            validate_ps_args("-o pid=PID,user=PID").unwrap_err(),
            "specifying \"pid=PID,user=PID\" is not allowed"
        );
    }

    #[test]
    fn top_finds_this_process() {
        let me = std::process::id() as i32;
        for args in ["", "aux", "-eo pid,comm"] {
            let top = top(&[me], args).unwrap_or_else(|e| panic!("{args}: {e}"));
            let col = top.titles.iter().position(|t| t == "PID").unwrap();
            assert_eq!(top.processes.len(), 1, "{args}: {top:?}");
            assert_eq!(top.processes[0][col], me.to_string());
            assert_eq!(top.processes[0].len(), top.titles.len());
        }
    }

    #[test]
    fn top_without_pids_still_answers() {
        // `ps -q` with an empty list fails; the retry without it filters.
        let top = top(&[], "").unwrap();
        assert!(top.titles.contains(&"PID".to_string()));
        assert!(top.processes.is_empty());
    }

    #[test]
    fn top_reports_ps_failure_and_bad_args() {
        let err = top(&[1], "--no-such-option").unwrap_err();
        assert!(err.starts_with("ps: "), "{err}");
        assert!(top(&[1], "-o user=PID")
            .unwrap_err()
            .contains("not allowed"));
    }
}
