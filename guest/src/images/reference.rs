//! Image references (`busybox`, `user/img:tag`, `host:5000/a/b@sha256:…`), parsed and
//! normalised the way docker's `reference.ParseNormalizedNamed` does, so that names, the
//! errors users see, and the `RepoTags` we show all read like dockerd's.
//!
//! The grammar (distribution/reference):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [domain "/"] path
//! domain     := host [":" port]            host := domain-name | "[" ipv6 "]"
//! path       := component ("/" component)*  component := [a-z0-9]+ (sep [a-z0-9]+)*
//! sep        := "." | "_" | "__" | "-"+
//! tag        := [\w][\w.-]{0,127}
//! ```

use std::fmt;
use std::str::FromStr;

use super::digest::Digest;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
/// Counted over `domain/path`, as distribution does.
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// A normalised, named reference: the domain is always set (`docker.io` for Docker Hub)
/// and official images carry their `library/` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference was refused; `Display` is dockerd's own message, because the CLI
/// prints the daemon's text verbatim and scripts match on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError(pub String);

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReferenceError {}

fn invalid_format() -> ReferenceError {
    ReferenceError("invalid reference format".into())
}

impl Reference {
    /// docker's `ParseNormalizedNamed`: `busybox` → `docker.io/library/busybox`,
    /// `user/img`, `host:5000/a/b:tag`, `x@sha256:…`, `x:tag@sha256:…`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_full_hex_id(s) {
            return Err(ReferenceError(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        // docker checks case on everything before the first ':', which for a
        // digest-only reference includes "@sha256"; copied, so that the same inputs
        // fail with the same words.
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(ReferenceError(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            )));
        }
        parse_split(&domain, &remainder)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// A repository plus an optional tag, as `repo`/`tag` API parameters name
    /// a target: an empty or absent tag means `latest`.
    pub fn tagged(repo: &str, tag: Option<&str>) -> Result<Reference, ReferenceError> {
        let r = Reference::parse(repo)?;
        match tag.filter(|t| !t.is_empty()) {
            Some(t) => r.with_tag(t),
            None => Ok(r.with_default_tag()),
        }
    }

    /// docker's `TagNameOnly`: `latest` only when there is neither a tag nor a digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.into());
        }
        self
    }

    /// distribution's `WithTag`: the tag is validated, and a digest already present is
    /// kept (use [`Reference::trim`] first for a plain `name:tag`).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError("invalid tag format".into()));
        }
        Ok(Reference {
            tag: Some(tag.into()),
            ..self.clone()
        })
    }

    /// The reference with `digest` in place of any digest it had (the tag is kept,
    /// like distribution's `WithDigest`).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The name alone, without tag or digest (distribution's `TrimNamed`).
    pub fn trim(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// `docker.io/library/busybox`
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as users type it: `busybox`, `user/img`, `127.0.0.1:5000/a/b`.
    pub fn familiar_repository(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.repository();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // Only one level is shortened: `library/a/b` stays as it is, as in docker.
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// What `docker images` and `RepoTags` show: `busybox:latest`, `busybox@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        self.push_tag_and_digest(&mut s);
        s
    }

    pub fn is_docker_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    fn push_tag_and_digest(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest.as_str());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.repository();
        self.push_tag_and_digest(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Whether `s` may name an image by ID rather than by reference: 64 hex digits or a
/// prefix of at least 12, with or without `sha256:` (docker takes both). Only a
/// candidate: the store decides whether such an image exists (and a name lookup comes
/// first, as in docker).
pub fn looks_like_image_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (12..=64).contains(&hex.len()) && hex.bytes().all(is_lower_hex)
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// distribution's `anchoredIdentifierRegexp`: `^[a-f0-9]{64}$`.
fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(is_lower_hex)
}

/// docker's `splitDockerDomain`: the first component is a registry only when it looks
/// like a host (has a '.' or ':', is `localhost`, or has capitals, which a path
/// component cannot).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// distribution's `Parse` applied to `domain + "/" + remainder`, where `domain` is the
/// first component. The regexp could also read the whole string as a path with no
/// domain; docker then returns a reference with an empty domain that nothing downstream
/// can use, so that case is refused here as an invalid format instead.
fn parse_split(domain: &str, remainder: &str) -> Result<Reference, ReferenceError> {
    let Some((path, tag, digest)) = match_remainder(remainder).filter(|_| is_domain(domain)) else {
        // distribution reports capitals separately when they alone spoil the match.
        let lower_ok = is_domain(&domain.to_lowercase())
            && match_remainder(&remainder.to_lowercase()).is_some();
        return Err(if lower_ok {
            ReferenceError("repository name must be lowercase".into())
        } else {
            invalid_format()
        });
    };
    if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )));
    }
    let digest = digest.map(parse_digest).transpose()?;
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// Splits `path[:tag][@digest]` and checks each part's grammar. Neither a path nor a
/// tag can hold ':' or '@', so the split is unambiguous.
fn match_remainder(s: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (name_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    let (path, tag) = match name_tag.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (name_tag, None),
    };
    let ok = is_path(path) && tag.is_none_or(is_tag) && digest.is_none_or(is_digest_syntax);
    ok.then_some((path, tag, digest))
}

fn is_path(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Every run of non-alphanumerics between two alphanumerics is one separator.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn is_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = t.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_LENGTH_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `host [":" port]`, host a dotted name of `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
/// components or a bracketed IPv6 address.
fn is_domain(d: &str) -> bool {
    let (host_ok, rest) = if let Some(bracketed) = d.strip_prefix('[') {
        let Some((addr, rest)) = bracketed.split_once(']') else {
            return false;
        };
        let ipv6 = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (ipv6, rest)
    } else {
        let (host, rest) = d.split_at(d.find(':').unwrap_or(d.len()));
        (host.split('.').all(is_domain_component), rest)
    };
    let port_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn is_domain_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let bytes = c.as_bytes();
    !bytes.is_empty()
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| alnum(b) || b == b'-')
}

/// The reference grammar's digest:
/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
fn is_digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// go-digest's validation, with its messages. Only sha256 is stored, so the other
/// algorithms docker knows (sha384, sha512) are refused here rather than at pull time.
fn parse_digest(d: &str) -> Result<Digest, ReferenceError> {
    let (alg, hex) = d.split_once(':').unwrap_or((d, ""));
    match alg {
        "sha256" if hex.len() != 64 => Err(ReferenceError("invalid checksum digest length".into())),
        "sha256" => {
            Digest::parse(d).map_err(|_| ReferenceError("invalid checksum digest format".into()))
        }
        _ => Err(ReferenceError("unsupported digest algorithm".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn err(s: &str) -> String {
        Reference::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        let d = format!("sha256:{HEX}");
        // input, Display, domain, path, tag, familiar
        type Row = (
            String,
            String,
            &'static str,
            &'static str,
            Option<&'static str>,
            String,
        );
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("busybox".into(), "docker.io/library/busybox".into(), "docker.io", "library/busybox", None, "busybox".into()),
            ("busybox:latest".into(), "docker.io/library/busybox:latest".into(), "docker.io", "library/busybox", Some("latest"), "busybox:latest".into()),
            ("library/busybox".into(), "docker.io/library/busybox".into(), "docker.io", "library/busybox", None, "busybox".into()),
            ("docker.io/busybox".into(), "docker.io/library/busybox".into(), "docker.io", "library/busybox", None, "busybox".into()),
            ("index.docker.io/busybox:1".into(), "docker.io/library/busybox:1".into(), "docker.io", "library/busybox", Some("1"), "busybox:1".into()),
            ("docker.io/library/busybox:1.36".into(), "docker.io/library/busybox:1.36".into(), "docker.io", "library/busybox", Some("1.36"), "busybox:1.36".into()),
            ("user/img".into(), "docker.io/user/img".into(), "docker.io", "user/img", None, "user/img".into()),
            ("user/img:v1.0-rc_1".into(), "docker.io/user/img:v1.0-rc_1".into(), "docker.io", "user/img", Some("v1.0-rc_1"), "user/img:v1.0-rc_1".into()),
            ("docker.io/library/a/b".into(), "docker.io/library/a/b".into(), "docker.io", "library/a/b", None, "library/a/b".into()),
            ("localhost/foo".into(), "localhost/foo".into(), "localhost", "foo", None, "localhost/foo".into()),
            ("localhost:5000/foo:bar".into(), "localhost:5000/foo:bar".into(), "localhost:5000", "foo", Some("bar"), "localhost:5000/foo:bar".into()),
            ("127.0.0.1:5000/a/b:tag".into(), "127.0.0.1:5000/a/b:tag".into(), "127.0.0.1:5000", "a/b", Some("tag"), "127.0.0.1:5000/a/b:tag".into()),
            ("host:5000/a/b/c".into(), "host:5000/a/b/c".into(), "host:5000", "a/b/c", None, "host:5000/a/b/c".into()),
            ("quay.io/coreos/etcd".into(), "quay.io/coreos/etcd".into(), "quay.io", "coreos/etcd", None, "quay.io/coreos/etcd".into()),
            ("[::1]:5000/foo".into(), "[::1]:5000/foo".into(), "[::1]:5000", "foo", None, "[::1]:5000/foo".into()),
            ("[2001:db8::1]/foo:t".into(), "[2001:db8::1]/foo:t".into(), "[2001:db8::1]", "foo", Some("t"), "[2001:db8::1]/foo:t".into()),
            // A first component with capitals cannot be a path, so docker takes it as a host.
            ("Foo/bar".into(), "Foo/bar".into(), "Foo", "bar", None, "Foo/bar".into()),
            // No '/': the colon is a tag separator, not a port.
            ("foo:5000".into(), "docker.io/library/foo:5000".into(), "docker.io", "library/foo", Some("5000"), "foo:5000".into()),
            ("a.b-c/d__e---f/x_y.z".into(), "a.b-c/d__e---f/x_y.z".into(), "a.b-c", "d__e---f/x_y.z", None, "a.b-c/d__e---f/x_y.z".into()),
            ("my-registry.example.com/a--b/c__d".into(), "my-registry.example.com/a--b/c__d".into(), "my-registry.example.com", "a--b/c__d", None, "my-registry.example.com/a--b/c__d".into()),
            (format!("busybox@{d}"), format!("docker.io/library/busybox@{d}"), "docker.io", "library/busybox", None, format!("busybox@{d}")),
            (format!("busybox:1@{d}"), format!("docker.io/library/busybox:1@{d}"), "docker.io", "library/busybox", Some("1"), format!("busybox:1@{d}")),
            (format!("localhost:5000/x@{d}"), format!("localhost:5000/x@{d}"), "localhost:5000", "x", None, format!("localhost:5000/x@{d}")),
        ];
        for (input, full, domain, path, tag, familiar) in table {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.domain(), domain, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
            assert_eq!(r.repository(), format!("{domain}/{path}"), "{input}");
            // Normalising is idempotent: the full and the familiar forms parse back.
            assert_eq!(Reference::parse(&full).unwrap(), r, "{input}");
            assert_eq!(Reference::parse(&familiar).unwrap(), r, "{input}");
        }
    }

    #[test]
    fn digest_forms() {
        let d = format!("sha256:{HEX}");
        let r = Reference::parse(&format!("busybox:1@{d}")).unwrap();
        assert_eq!(r.digest().unwrap().as_str(), d);
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(
            err(&format!("busybox@sha256:{}", &HEX[..32])),
            "invalid checksum digest length"
        );
        assert_eq!(
            err(&format!("busybox@sha256:{}", HEX.to_uppercase())),
            "invalid checksum digest format"
        );
        assert_eq!(
            err(&format!("busybox@sha512:{HEX}{HEX}")),
            "unsupported digest algorithm"
        );
        assert_eq!(
            err(&format!("busybox@sha256:{}", &HEX[..31])),
            "invalid reference format"
        );
        assert_eq!(err("busybox@"), "invalid reference format");
        assert_eq!(err("busybox@sha256"), "invalid reference format");
        assert_eq!(
            err(&format!("busybox@256:{HEX}")),
            "invalid reference format"
        );
        assert_eq!(err(&format!("busybox@{d}@{d}")), "invalid reference format");
        // A digest reference keeps no implied tag.
        assert_eq!(
            Reference::parse(&format!("busybox@{d}"))
                .unwrap()
                .with_default_tag()
                .tag(),
            None
        );
    }

    #[test]
    fn refuses_with_dockers_words() {
        assert_eq!(
            err("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            err("user/Img:tag"),
            "invalid reference format: repository name (user/Img) must be lowercase"
        );
        assert_eq!(
            err("localhost:5000/Foo"),
            "invalid reference format: repository name (Foo) must be lowercase"
        );
        assert_eq!(
            err(HEX),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        for bad in [
            "",
            ":",
            "busybox:",
            ":latest",
            "/busybox",
            "busybox/",
            "a//b",
            "-busybox",
            "busybox-",
            "a..b",
            "a._b",
            "a___b",
            "a b",
            "busybox:tag:tag",
            "busybox:-tag",
            "busybox:.tag",
            "busybox:ta/g",
            "localhost:/foo",
            "host:port/foo",
            "host:50a0/foo",
            "-host.com/foo",
            "host-.com/foo",
            "[::1/foo",
            "[]/foo",
            "[::1]:/foo",
            "[::g]/foo",
            "a_b.c/foo",
            "docker.io/",
            "ünïcode",
        ] {
            let e = Reference::parse(bad).expect_err(bad);
            assert!(e.0.starts_with("invalid reference format"), "{bad:?}: {e}");
        }
        // Not the 64-hex rule: 63 digits or with capitals are names (or uppercase errors).
        assert!(Reference::parse(&HEX[..63]).is_ok());
        assert_eq!(
            err(&HEX.to_uppercase()),
            format!(
                "invalid reference format: repository name (library/{}) must be lowercase",
                HEX.to_uppercase()
            )
        );
    }

    #[test]
    fn length_limits() {
        let tag128 = "t".repeat(128);
        assert_eq!(
            Reference::parse(&format!("busybox:{tag128}"))
                .unwrap()
                .tag(),
            Some(tag128.as_str())
        );
        assert_eq!(
            err(&format!("busybox:{tag128}x")),
            "invalid reference format"
        );
        // 255 counts "docker.io/" too.
        let path = format!("u/{}", "a".repeat(255 - "docker.io/u/".len()));
        assert!(Reference::parse(&path).is_ok());
        assert_eq!(
            err(&format!("{path}a")),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn tags_and_trimming() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            r.clone().with_default_tag().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(r.clone().with_default_tag().familiar(), "busybox:latest");
        let tagged = Reference::parse("busybox:1").unwrap();
        assert_eq!(tagged.clone().with_default_tag(), tagged);
        assert_eq!(r.with_tag("v2").unwrap().familiar(), "busybox:v2");
        assert_eq!(
            r.with_tag(&"x".repeat(128)).unwrap().tag().unwrap().len(),
            128
        );
        for bad in ["", "-x", ".x", "a:b", "a/b", &"x".repeat(129)] {
            assert_eq!(
                r.with_tag(bad).unwrap_err().to_string(),
                "invalid tag format",
                "{bad:?}"
            );
        }
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        let both = r.with_digest(d.clone()).with_tag("t").unwrap();
        assert_eq!(both.familiar(), format!("busybox:t@{d}"));
        assert_eq!(both.trim().to_string(), "docker.io/library/busybox");
        assert!(both.is_docker_hub());
        assert!(!Reference::parse("127.0.0.1:5000/a")
            .unwrap()
            .is_docker_hub());
        assert_eq!("busybox".parse::<Reference>().unwrap(), r);
    }

    #[test]
    fn familiar_repository() {
        for (input, want) in [
            ("busybox:1", "busybox"),
            ("user/img", "user/img"),
            ("docker.io/library/a/b", "library/a/b"),
            ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b"),
            ("localhost/library/x", "localhost/library/x"),
        ] {
            assert_eq!(
                Reference::parse(input).unwrap().familiar_repository(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn image_id_candidates() {
        assert!(looks_like_image_id(HEX));
        assert!(looks_like_image_id(&format!("sha256:{HEX}")));
        assert!(looks_like_image_id(&HEX[..12]));
        assert!(looks_like_image_id(&HEX[..40]));
        assert!(!looks_like_image_id(&HEX[..11]));
        assert!(looks_like_image_id(&format!("sha256:{}", &HEX[..12])));
        assert!(!looks_like_image_id(&format!("sha256:{}", &HEX[..11])));
        assert!(!looks_like_image_id(&format!("{HEX}0")));
        assert!(!looks_like_image_id(&HEX.to_uppercase()));
        assert!(!looks_like_image_id("busybox"));
        assert!(!looks_like_image_id("abcdefabcdefg"));
        assert!(!looks_like_image_id(""));
    }
}
