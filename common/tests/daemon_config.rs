//! Loading daemon.json + flags end to end: what berthd and the settings
//! panel see, message by message.

use std::path::Path;

use berth_common::daemon_config::{
    key_info, load, reload_plan, validate_config, validate_text, ConfigError, DaemonConfig,
    FileSource, Loaded, ValueKind, KEYS,
};
use serde_json::{json, Map, Value};

const PATH: &str = "/p/daemon.json";

fn flags(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("flags are an object")
}

fn load_file(text: &str) -> Result<Loaded, ConfigError> {
    load(
        Some(FileSource {
            path: Path::new(PATH),
            text,
        }),
        &Map::new(),
    )
}

fn load_with(text: &str, flag_values: Value) -> Result<Loaded, ConfigError> {
    load(
        Some(FileSource {
            path: Path::new(PATH),
            text,
        }),
        &flags(flag_values),
    )
}

fn error(text: &str) -> ConfigError {
    load_file(text).expect_err("should be refused")
}

fn message(text: &str) -> String {
    error(text).to_string()
}

const PREFIX: &str = "unable to configure the Berth daemon with file /p/daemon.json: ";

// --- files that are fine -------------------------------------------------

#[test]
fn empty_file_and_empty_object_give_the_defaults() {
    for text in ["", "  \n\t", "{}", " { } ", "\u{feff}{}", "\u{feff}"] {
        let loaded = load_file(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(loaded.config, DaemonConfig::default());
        assert!(loaded.file_keys.is_empty() && loaded.not_yet_supported.is_empty());
    }
}

#[test]
fn no_file_no_flags_gives_the_defaults() {
    let loaded = load(None, &Map::new()).unwrap();
    assert_eq!(loaded.config, DaemonConfig::default());
}

#[test]
fn a_realistic_file() {
    let text = r#"{
        "debug": true,
        "log-level": "warn",
        "hosts": ["unix:///var/run/berth/docker.sock", "tcp://0.0.0.0:2376"],
        "tls": true,
        "tlsverify": true,
        "tlscacert": "/etc/berth/ca.pem",
        "tlscert": "/etc/berth/cert.pem",
        "tlskey": "/etc/berth/key.pem",
        "data-root": "/mnt/berth",
        "group": "berth",
        "labels": ["env=dev", "team=core", "env=dev"],
        "live-restore": true,
        "max-concurrent-downloads": 6,
        "max-concurrent-uploads": 2,
        "max-download-attempts": 9,
        "registry-mirrors": ["https://mirror.gcr.io"],
        "insecure-registries": ["registry.local:5000", "10.0.0.0/8"],
        "storage-driver": "overlay2",
        "default-runtime": "crun",
        "runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--systemd-cgroup"]}},
        "log-driver": "local",
        "log-opts": {"max-size": "20m", "max-file": "3"},
        "dns": ["1.1.1.1", "2606:4700:4700::1111"],
        "dns-opts": ["ndots:2"],
        "dns-search": ["corp.example"],
        "bip": "172.30.0.1/16",
        "fixed-cidr": "172.30.1.0/24",
        "mtu": 1400,
        "default-address-pools": [{"base": "10.200.0.0/16", "size": 24}],
        "icc": false,
        "ip-forward": true,
        "ip-masq": true,
        "iptables": true,
        "userland-proxy": false,
        "features": {"buildkit": true},
        "experimental": true,
        "shutdown-timeout": 30,
        "seccomp-profile": "unconfined",
        "no-new-privileges": true,
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 1024}},
        "default-shm-size": "128M",
        "init": true,
        "cgroup-parent": "berth.slice",
        "exec-opts": ["native.cgroupdriver=systemd"],
        "ipv6": false,
        "builder": {"gc": {"enabled": true}}
    }"#;
    let loaded = load_file(text).unwrap();
    let c = &loaded.config;
    assert!(c.debug && c.live_restore && c.experimental && c.init && c.no_new_privileges);
    assert!(!c.icc && !c.userland_proxy);
    assert_eq!(c.log_level, "warn");
    assert_eq!(c.data_root, Path::new("/mnt/berth"));
    assert_eq!(
        c.exec_root,
        Path::new("/var/run/berth"),
        "untouched keys keep Berth's default"
    );
    assert_eq!(c.group.as_deref(), Some("berth"));
    assert_eq!(
        c.labels,
        ["env=dev", "team=core"],
        "duplicate labels are dropped"
    );
    assert_eq!(
        (
            c.max_concurrent_downloads,
            c.max_concurrent_uploads,
            c.max_download_attempts
        ),
        (6, 2, 9)
    );
    assert_eq!(c.runtimes["crun"].runtime_args, ["--systemd-cgroup"]);
    assert_eq!(c.default_address_pools[0].size, 24);
    assert_eq!(c.default_ulimits["nofile"].soft, 1024);
    assert_eq!(c.default_shm_size_bytes(), 128 << 20);
    assert_eq!(c.features.get("buildkit"), Some(&true));
    assert_eq!(c.unsupported.get("ipv6"), Some(&json!(false)));
    assert!(c.unsupported.contains_key("builder"));
    assert_eq!(loaded.file_keys.len(), 46);
    assert_eq!(loaded.file_keys.first().map(String::as_str), Some("bip"));
    assert_eq!(
        loaded.not_yet_supported,
        ["builder"],
        "ipv6: false asks for nothing"
    );
}

#[test]
fn every_key_is_accepted_with_an_empty_value_of_its_kind() {
    let mut file = Map::new();
    // dockerd refuses the deprecated host-gateway-ip next to its successor.
    for k in KEYS.iter().filter(|k| k.name != "host-gateway-ip") {
        let v = match k.kind {
            ValueKind::Bool => json!(false),
            ValueKind::String => json!(""),
            ValueKind::Int => json!(0),
            ValueKind::StringList | ValueKind::AddressPools => json!([]),
            _ => json!({}),
        };
        file.insert(k.name.to_string(), v);
    }
    // dockerd's one cross-key rule that empty values trip: keep icc on.
    file.insert("icc".into(), json!(true));
    let text = serde_json::to_string_pretty(&file).unwrap();
    let loaded = load_file(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.file_keys.len(), KEYS.len() - 1);
    assert!(loaded.not_yet_supported.is_empty());
    let c = &loaded.config;
    // "" and 0 mean "the default", as with dockerd's flag defaults.
    assert_eq!(c.data_root, Path::new("/var/lib/berth"));
    assert_eq!(c.log_level, "info");
    assert_eq!(c.log_driver, "json-file");
    assert_eq!(c.mtu, 1500);
    assert_eq!(c.shutdown_timeout, 15);
    assert_eq!(c.max_download_attempts, 5);
    assert_eq!(c.storage_driver, None);
    assert_eq!(c.default_runtime, None);
    // ...but false is false.
    assert!(!c.iptables && !c.ip_forward && !c.userland_proxy);
}

#[test]
fn null_means_not_set() {
    let loaded =
        load_file(r#"{"debug": null, "mtu": null, "ipv6": null, "storage-driver": null}"#).unwrap();
    assert_eq!(loaded.config, DaemonConfig::default());
    assert_eq!(loaded.file_keys, ["debug", "ipv6", "mtu", "storage-driver"]);
}

#[test]
fn not_yet_supported_lists_file_and_flag_keys() {
    let loaded = load_with(
        r#"{"ipv6": true, "userns-remap": "default"}"#,
        json!({"selinux-enabled": true}),
    )
    .unwrap();
    assert_eq!(
        loaded.not_yet_supported,
        ["ipv6", "selinux-enabled", "userns-remap"]
    );
    assert_eq!(loaded.config.unsupported["userns-remap"], "default");
    assert_eq!(loaded.file_keys, ["ipv6", "userns-remap"]);
}

#[test]
fn nested_field_names_match_in_any_case_like_go() {
    let loaded = load_file(
        r#"{"default-ulimits": {"nproc": {"name": "nproc", "hard": 10, "soft": 5}},
            "default-address-pools": [{"Base": "10.1.0.0/16", "Size": 20}],
            "runtimes": {"r": {"Path": "/bin/r", "RuntimeArgs": ["-x"]}}}"#,
    )
    .unwrap();
    let c = loaded.config;
    assert_eq!(c.default_ulimits["nproc"].hard, 10);
    assert_eq!(c.default_address_pools[0].base, "10.1.0.0/16");
    assert_eq!(c.runtimes["r"].runtime_args, ["-x"]);
}

#[test]
fn ulimit_name_defaults_to_its_key() {
    let c = load_file(r#"{"default-ulimits": {"nofile": {"Hard": 2, "Soft": 1}}}"#)
        .unwrap()
        .config;
    assert_eq!(c.default_ulimits["nofile"].name, "nofile");
}

// --- syntax ---------------------------------------------------------------

#[test]
fn syntax_errors_give_line_and_column() {
    let e = error("{\n  \"debug\": true\n  \"mtu\": 1400\n}");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}expected `,` or `}}` at line 3 column 3")
    );
    assert_eq!((e.line, e.column), (Some(3), Some(3)));
    assert_eq!(e.file.as_deref(), Some(Path::new(PATH)));
    assert_eq!(e.key, None);

    assert_eq!(
        message("{\"debug\": tru}"),
        format!("{PREFIX}expected ident at line 1 column 14")
    );
    assert!(
        message("{\"a\": 1,}").starts_with(&format!("{PREFIX}trailing comma at line 1 column 9"))
    );
    assert!(message("{").contains("EOF while parsing an object at line 1"));
    assert!(message("{} {}").contains("trailing characters at line 1 column 4"));
}

#[test]
fn top_level_must_be_an_object() {
    let e = error("\n  [1, 2]");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}the configuration must be a JSON object, found an array")
    );
    assert_eq!((e.line, e.column), (Some(2), Some(3)));
    assert!(message("true").ends_with("found a boolean"));
    assert!(message("\"x\"").ends_with("found a string"));
    assert!(message("null").ends_with("found null"));
}

// --- unknown keys -----------------------------------------------------------

#[test]
fn unknown_keys_are_all_listed_sorted() {
    let e = error("{\n\"debug\": true,\n\"zeta\": 1,\n\"graph\": \"/x\",\n\"label\": [\"a=b\"]\n}");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}the following directives don't match any configuration option: graph, label, zeta")
    );
    assert_eq!(e.key.as_deref(), Some("graph"));
    assert_eq!(e.line, Some(4));
}

#[test]
fn unknown_keys_come_before_type_errors() {
    assert!(message(r#"{"debug": "yes", "nope": 1}"#)
        .contains("don't match any configuration option: nope"));
}

#[test]
fn unknown_nested_fields_are_errors() {
    let e = error("{\n \"default-address-pools\": [\n  {\"base\": \"10.0.0.0/8\", \"size\": 24},\n  {\"base\": \"10.1.0.0/16\", \"size\": 24, \"gateway\": \"x\"}\n ]\n}");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}invalid value for \"default-address-pools[1]\" (line 4): unknown field \"gateway\", expected one of \"base\", \"size\"")
    );
    assert_eq!(e.key.as_deref(), Some("default-address-pools"));
    assert_eq!(e.line, Some(4));

    assert!(message(r#"{"proxies": {"ftp-proxy": "x"}}"#)
        .contains("invalid value for \"proxies\" (line 1): unknown field \"ftp-proxy\""));
    assert!(message(r#"{"runtimes": {"k": {"runtimeType": "io.containerd.kata.v2"}}}"#)
        .contains("invalid value for \"runtimes.k.runtimeType\" (line 1): containerd shims (runtimeType) are not supported by Berth"));
}

// --- types ----------------------------------------------------------------

#[test]
fn type_errors_name_the_key_and_line() {
    let e = error("{\n  \"mtu\": 1400,\n  \"debug\": \"yes\"\n}");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}invalid value for \"debug\" (line 3): expected a boolean, found a string")
    );
    assert_eq!(
        (e.key.as_deref(), e.line, e.column),
        (Some("debug"), Some(3), Some(3))
    );

    let cases = [
        (r#"{"hosts": "unix://"}"#, "invalid value for \"hosts\" (line 1): expected an array of strings, found a string"),
        (r#"{"labels": ["a=b", 3]}"#, "invalid value for \"labels[1]\" (line 1): expected a string, found a number"),
        (r#"{"mtu": "1500"}"#, "invalid value for \"mtu\" (line 1): expected an integer, found a string"),
        (r#"{"mtu": 1500.5}"#, "invalid value for \"mtu\" (line 1): expected an integer, found 1500.5"),
        (r#"{"log-opts": {"max-file": 3}}"#, "invalid value for \"log-opts.max-file\" (line 1): expected a string, found a number"),
        (r#"{"features": {"cdi": "true"}}"#, "invalid value for \"features.cdi\" (line 1): expected a boolean, found a string"),
        (r#"{"runtimes": []}"#, "invalid value for \"runtimes\" (line 1): expected an object of runtimes, found an array"),
        (r#"{"default-shm-size": 67108864}"#, "invalid value for \"default-shm-size\" (line 1): expected a string, found a number"),
        (r#"{"ipv6": "yes"}"#, "invalid value for \"ipv6\" (line 1): expected a boolean, found a string"),
        (r#"{"default-network-opts": {"bridge": {"mtu": 1}}}"#, "invalid value for \"default-network-opts.bridge.mtu\" (line 1): expected a string, found a number"),
    ];
    for (text, want) in cases {
        assert_eq!(message(text), format!("{PREFIX}{want}"), "{text}");
    }
}

#[test]
fn nested_type_errors_point_at_the_nested_line() {
    let e = error("{\n\"default-ulimits\": {\n  \"nofile\": {\n    \"Name\": \"nofile\",\n    \"Hard\": \"lots\",\n    \"Soft\": 1\n  }\n}\n}");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}invalid value for \"default-ulimits.nofile.Hard\" (line 5): expected an integer, found a string")
    );
    assert_eq!(e.line, Some(5));
}

// --- flags ----------------------------------------------------------------

#[test]
fn flags_alone() {
    let loaded = load(
        None,
        &flags(json!({"debug": true, "hosts": ["tcp://:2375"], "mtu": 0})),
    )
    .unwrap();
    assert!(loaded.config.debug);
    assert_eq!(loaded.config.hosts, ["tcp://:2375"]);
    assert_eq!(
        loaded.config.mtu, 0,
        "a flag's 0 is taken literally, as dockerd does"
    );
    assert!(loaded.file_keys.is_empty());
}

#[test]
fn flags_and_file_combine() {
    let loaded = load_with(r#"{"debug": true}"#, json!({"log-level": "error"})).unwrap();
    assert!(loaded.config.debug);
    assert_eq!(loaded.config.log_level, "error");
    assert_eq!(loaded.file_keys, ["debug"]);
}

#[test]
fn a_key_in_both_is_refused_even_with_equal_values() {
    let e = load_with(
        "{\n\"mtu\": 1400,\n\"hosts\": [\"unix:///a\"],\n\"debug\": false\n}",
        json!({"debug": true, "hosts": ["tcp://h:1"], "log-level": "info"}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: false), hosts: (from flag: [\"tcp://h:1\"], from file: [\"unix:///a\"])")
    );
    assert_eq!((e.key.as_deref(), e.line), (Some("debug"), Some(4)));

    let same = load_with(r#"{"log-level": "info"}"#, json!({"log-level": "info"})).unwrap_err();
    assert!(same
        .message
        .ends_with("log-level: (from flag: info, from file: info)"));
}

#[test]
fn runtimes_from_flags_merge_with_the_files() {
    let loaded = load_with(
        r#"{"runtimes": {"a": {"path": "/a"}, "b": {"path": "/file-b"}}}"#,
        json!({"runtimes": {"b": {"path": "/flag-b"}, "c": {"path": "/c"}}}),
    )
    .unwrap();
    let rts = &loaded.config.runtimes;
    assert_eq!(rts.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(rts["b"].path, "/file-b");
}

#[test]
fn proxies_conflict_per_proxy_with_credentials_masked() {
    let ok = load_with(
        r#"{"proxies": {"no-proxy": "localhost"}}"#,
        json!({"proxies": {"http-proxy": "http://p:3128"}}),
    )
    .unwrap();
    assert_eq!(
        ok.config.unsupported["proxies"],
        json!({"http-proxy": "http://p:3128", "no-proxy": "localhost"})
    );

    let e = load_with(
        r#"{"proxies": {"http-proxy": "http://u:pw@file:1"}}"#,
        json!({"proxies": {"http-proxy": "http://u:pw@flag:1"}}),
    )
    .unwrap_err();
    assert!(e.message.ends_with(
        "http-proxy: (from flag: http://xxxxx:xxxxx@flag:1, from file: http://xxxxx:xxxxx@file:1)"
    ), "{e}");
}

#[test]
fn bad_flags_are_reported_without_the_file() {
    let e = load_with("{}", json!({"debug": "on"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value for flag \"debug\": expected a boolean, found a string"
    );
    assert_eq!(e.file, None);
    let e = load(None, &flags(json!({"label": ["a=b"], "bogus": 1}))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the following flags don't match any configuration option: bogus, label"
    );
}

#[test]
fn semantic_errors_from_flags_have_no_line() {
    let e = load_with("{\"debug\": true}", json!({"max-concurrent-downloads": -1})).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}invalid max concurrent downloads: -1")
    );
    assert_eq!(
        (e.key.as_deref(), e.line),
        (Some("max-concurrent-downloads"), None)
    );
    let e = load(None, &flags(json!({"max-concurrent-downloads": -1}))).unwrap_err();
    assert_eq!(e.to_string(), "invalid max concurrent downloads: -1");
}

// --- semantics --------------------------------------------------------------

#[test]
fn semantic_errors_use_dockerds_wording_with_key_and_line() {
    let e = error("{\n  \"debug\": true,\n  \"log-level\": \"loud\"\n}");
    assert_eq!(
        e.to_string(),
        format!("{PREFIX}invalid logging level: loud")
    );
    assert_eq!((e.key.as_deref(), e.line), (Some("log-level"), Some(3)));

    let cases = [
        (r#"{"max-concurrent-downloads": -1}"#, "invalid max concurrent downloads: -1"),
        (r#"{"max-concurrent-uploads": -5}"#, "invalid max concurrent uploads: -5"),
        (r#"{"max-download-attempts": -1}"#, "invalid max download attempts: -1"),
        (r#"{"mtu": -1}"#, "invalid default MTU: -1"),
        (r#"{"labels": ["novalue"]}"#, "bad attribute format: novalue"),
        (r#"{"labels": ["a=1", "a=2"]}"#, "conflict labels for a=2 and a=1"),
        (r#"{"registry-mirrors": ["mirror.local"]}"#, "invalid mirror: no scheme specified for \"mirror.local\": must use either 'https://' or 'http://'"),
        (r#"{"insecure-registries": ["ftp://r"]}"#, "insecure registry ftp://r should not contain '://'"),
        (r#"{"dns": ["dns.google"]}"#, "invalid IP address: dns.google"),
        (r#"{"dns-search": ["-bad"]}"#, "-bad is not a valid domain"),
        (r#"{"hosts": ["fd://"]}"#, "invalid bind address (fd://): systemd socket activation (fd://) is not supported by Berth; use unix://, tcp:// or vsock://"),
        (r#"{"hosts": ["ssh://x"]}"#, "invalid bind address (ssh://x): unsupported proto 'ssh'"),
        (r#"{"storage-driver": "zfs"}"#, "storage driver \"zfs\" is not supported by Berth: use \"overlay2\" or \"vfs\""),
        (r#"{"log-driver": "nope"}"#, "failed to set log opts: logger: no log driver named 'nope' is registered"),
        (r#"{"runtimes": {"berth": {"path": "/x"}}}"#, "runtime name 'berth' is reserved"),
        (r#"{"runtimes": {"kata": {"runtimeArgs": []}}}"#, "runtime kata: a path must be configured"),
        (r#"{"default-runtime": "kata"}"#, "specified default runtime 'kata' does not exist"),
        (r#"{"bip": "172.17.0.1"}"#, "parse bip failed: invalid CIDR address: 172.17.0.1"),
        (r#"{"default-shm-size": "huge"}"#, "invalid size: 'huge'"),
        (r#"{"exec-opts": ["native.cgroupdriver"]}"#, "invalid exec-opt (native.cgroupdriver): must be formatted 'opt=value'"),
        (r#"{"log-format": "xml"}"#, "invalid log format: xml"),
        (r#"{"icc": false, "iptables": false}"#, "You specified --iptables=false with --icc=false. ICC=false uses iptables to function. Please set --icc or --iptables to true"),
    ];
    for (text, want) in cases {
        assert_eq!(message(text), format!("{PREFIX}{want}"), "{text}");
    }
}

#[test]
fn zero_in_the_file_means_the_default_like_dockerd() {
    let c = load_file(
        r#"{"max-download-attempts": 0, "max-concurrent-downloads": 0, "shutdown-timeout": 0}"#,
    )
    .unwrap()
    .config;
    assert_eq!(
        (
            c.max_download_attempts,
            c.max_concurrent_downloads,
            c.shutdown_timeout
        ),
        (5, 3, 15)
    );
}

// --- validate_text / validate_config --------------------------------------

#[test]
fn validate_text_names_no_file() {
    assert!(validate_text("{\"debug\": true}").unwrap().config.debug);
    let e = validate_text("{\n\"debug\": 1\n}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value for \"debug\" (line 2): expected a boolean, found a number"
    );
    assert_eq!(e.file, None);
    assert_eq!(
        validate_text("{").unwrap_err().to_string(),
        "EOF while parsing an object at line 1 column 1"
    );
}

#[test]
fn validate_config_checks_a_config_built_in_code() {
    let mut c = DaemonConfig::default();
    assert!(validate_config(&c).is_ok());
    c.log_driver = "syslog".into();
    let e = validate_config(&c).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("log-driver"));
    assert!(e
        .to_string()
        .starts_with("log driver \"syslog\" is not supported by Berth"));
}

// --- round trip and reload ------------------------------------------------

#[test]
fn to_json_loads_back_to_the_same_config() {
    let text = r#"{"debug": true, "hosts": ["tcp://[::1]:2376"], "tlsverify": true, "labels": ["a=b"],
        "runtimes": {"crun": {"path": "/usr/bin/crun"}}, "default-runtime": "crun",
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 10, "Soft": 5}},
        "default-address-pools": [{"base": "10.9.0.0/16", "size": 24}], "features": {"x": false},
        "default-shm-size": "1g", "ipv6": true, "proxies": {"no-proxy": "*.local"}, "bip": "10.1.0.1/24"}"#;
    let first = load_file(text).unwrap().config;
    let json = serde_json::to_string_pretty(&first.to_json()).unwrap();
    let second = load_file(&json)
        .unwrap_or_else(|e| panic!("{e}\n{json}"))
        .config;
    assert_eq!(first, second);

    let defaults = DaemonConfig::default();
    let again = load_file(&defaults.to_json().to_string()).unwrap().config;
    assert_eq!(again, defaults);
}

#[test]
fn reload_plan_between_two_loaded_files() {
    let old = load_file(r#"{"debug": false, "data-root": "/a", "registry-mirrors": []}"#)
        .unwrap()
        .config;
    let new = load_file(
        r#"{"debug": true, "data-root": "/b", "registry-mirrors": ["https://m"], "ipv6": true}"#,
    )
    .unwrap()
    .config;
    let plan = reload_plan(&old, &new);
    fn keys(v: &[berth_common::daemon_config::Change]) -> Vec<&str> {
        v.iter().map(|c| c.key.as_str()).collect()
    }
    assert_eq!(keys(&plan.reloaded), ["debug", "registry-mirrors"]);
    assert_eq!(keys(&plan.needs_restart), ["data-root", "ipv6"]);
    assert_eq!(plan.needs_restart[0].old, json!("/a"));
    assert_eq!(plan.needs_restart[1].old, Value::Null);
}

#[test]
fn key_table_matches_the_model() {
    // Every supported key is a DaemonConfig field, and nothing else is.
    let fields = DaemonConfig::default().to_json();
    let with_options = DaemonConfig {
        group: Some(String::new()),
        tls: Some(true),
        tlsverify: Some(true),
        tlscacert: Some("/".into()),
        tlscert: Some("/".into()),
        tlskey: Some("/".into()),
        storage_driver: Some(String::new()),
        default_runtime: Some(String::new()),
        bip: Some(String::new()),
        bridge: Some(String::new()),
        fixed_cidr: Some(String::new()),
        seccomp_profile: Some(String::new()),
        default_shm_size: Some(String::new()),
        init_path: Some("/".into()),
        cgroup_parent: Some(String::new()),
        ..Default::default()
    };
    let all = with_options.to_json();
    let mut model_keys: Vec<&String> = all.as_object().unwrap().keys().collect();
    model_keys.sort();
    let supported: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.supported)
        .map(|k| k.name)
        .collect();
    assert_eq!(model_keys, supported);
    assert!(fields.as_object().unwrap().len() < supported.len());
    for k in &supported {
        assert!(key_info(k).unwrap().supported);
    }
}
