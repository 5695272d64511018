//! `berth-shim <bundle>`: the per-container shim berthd starts (see the
//! library's documentation and `server`).

mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (Some(bundle), None) if bundle != "--help" && bundle != "-h" => {
            server::main(std::path::Path::new(&bundle))
        }
        _ => {
            eprintln!(
                "usage: berth-shim <bundle>\n\nThe per-container shim: berthd starts one for each container it runs, \
                 with the container's settings in <bundle>/shim.json. It is not meant to be run by hand."
            );
            ExitCode::from(2)
        }
    }
}
