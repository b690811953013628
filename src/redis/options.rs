//! How to reach Redis: the URL forms, TLS settings and timeouts, turned into what the redis
//! crate connects with. Every front end (Rust builders, CLI `--url`, the gem's `redis:`,
//! `symple server`) hands over the same URL string, so each form is parsed here only.
//!
//! ```text
//! redis://[user[:password]@]host[:port][/db]                one node
//! rediss://…[?tls_ca=/path/ca.pem][&tls_insecure=true]      one node over TLS
//! redis+cluster://[user[:password]@]host:port[,host:port…]  Redis Cluster, from seed nodes
//! rediss+cluster://…                                         Redis Cluster over TLS
//! unix:///path/redis.sock[?db=N]                             a local socket
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{is_scheme, Error, Redacted, Result};

/// The URL used when none is given: `SYMPLE_REDIS_URL`, then `REDIS_URL`, then localhost.
///
/// ```
/// let url = symple::redis::default_url();
/// assert!(url.starts_with("redis"));
/// ```
pub fn default_url() -> String {
    ["SYMPLE_REDIS_URL", "REDIS_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// How to reach Redis: a URL (see the [module docs](self) for its forms) and timeouts.
///
/// ```
/// use std::time::Duration;
/// let opts = symple::redis::ConnectOptions::new("redis://127.0.0.1:6379")
///     .connect_timeout(Duration::from_millis(500));
/// assert_eq!(opts.url(), "redis://127.0.0.1:6379");
/// assert!(!opts.is_cluster());
/// assert!(symple::redis::ConnectOptions::new("redis+cluster://10.0.0.1:7000,10.0.0.2:7000").is_cluster());
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    url: String,
    tls_ca_file: Option<PathBuf>,
    tls_insecure: Option<bool>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) pool_size: usize,
}

impl ConnectOptions {
    /// Options for `url` with a 2 s connect timeout and a 5 s response timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectOptions {
            url: url.into(),
            tls_ca_file: None,
            tls_insecure: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            queue_capacity: 100_000,
            pool_size: 1,
        }
    }

    /// The Redis URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True for a `redis+cluster://` or `rediss+cluster://` URL.
    pub fn is_cluster(&self) -> bool {
        scheme(&self.url).is_some_and(|s| s.ends_with("+cluster"))
    }

    /// How long connecting may take before it fails.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long a reply may take before the command fails (for a pipelined batch: the whole
    /// batch).
    pub fn response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }

    /// How many connections a blocking emitter or session store may open (1 to 64, default
    /// 1), so that threads sharing it do not wait behind each other's round trips (see
    /// [`Pool`]). A queued emitter has one writer and so one connection, whatever this says.
    ///
    /// ```no_run
    /// // Puma with 5 threads: each emit finds a connection of its own.
    /// let emitter = symple::Emitter::builder("redis://127.0.0.1:6379")
    ///     .options(|o| o.pool_size(5))
    ///     .connect()?;
    /// # Ok::<(), symple::Error>(())
    /// ```
    ///
    /// [`Pool`]: crate::redis::Pool
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.clamp(1, 64);
        self
    }

    /// How many packets a queued publisher holds before `emit` waits for room.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }

    /// Trusts the CA certificates in this PEM file instead of the system's, for `rediss://`
    /// (the same as `?tls_ca=<path>` in the URL).
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Skips certificate verification for `rediss://` (the same as `?tls_insecure=true`): for
    /// development only, since anyone on the path can then read and forge the traffic.
    pub fn tls_insecure(mut self, insecure: bool) -> Self {
        self.tls_insecure = Some(insecure);
        self
    }

    /// Checks the URL and the TLS settings (reading the CA file) without connecting: the
    /// errors connecting would give before anything is sent.
    ///
    /// ```
    /// use symple::redis::ConnectOptions;
    /// assert!(ConnectOptions::new("redis+cluster://10.0.0.1:7000,10.0.0.2:7000").check().is_ok());
    /// let e = ConnectOptions::new("redis://u:s3cret@h:1/x").check().unwrap_err();
    /// assert!(e.to_string().contains("u:***@h"), "{e}");
    /// ```
    pub fn check(&self) -> Result<()> {
        self.endpoint().map(drop)
    }

    /// `piece` of the URL, for an error message, unless it may hold the password (text
    /// found only among the credentials, as [`Redacted`] masks them: a password with an
    /// unescaped `#`, `?` or `/` would otherwise show up as a fragment, a parameter or a host).
    fn shown(&self, piece: &str) -> String {
        if self.redacted().shows(piece) {
            piece.to_owned()
        } else {
            "(not shown: it may hold the password)".to_owned()
        }
    }

    /// The URL with any password masked, for messages.
    pub(crate) fn redacted(&self) -> Redacted {
        Redacted(self.url.clone())
    }

    /// Parses the URL and reads the CA file: everything that can be wrong before connecting.
    pub(crate) fn endpoint(&self) -> Result<Endpoint> {
        let bad = |reason: String| Error::InvalidUrl {
            url: self.redacted().to_string(),
            reason,
        };
        let url = self.url.trim();
        let Some(scheme) = scheme(url) else {
            return Err(bad(
                "not a Redis URL: expected redis://host:port (or rediss://, redis+cluster://, rediss+cluster://, unix://)".into(),
            ));
        };
        let rest = &url[scheme.len() + 3..];
        let (tls, cluster) = match scheme.as_str() {
            "redis" => (false, false),
            "rediss" => (true, false),
            "redis+cluster" => (false, true),
            "rediss+cluster" => (true, true),
            "unix" | "redis+unix" => return self.unix_endpoint(url).map_err(bad),
            other => {
                return Err(bad(format!(
                    "unsupported scheme {}://: use redis://, rediss:// (TLS), redis+cluster:// or rediss+cluster:// (Redis Cluster)",
                    self.shown(other)
                )))
            }
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
        if hosts.iter().any(|h| h.is_empty()) {
            return Err(bad("missing host".into()));
        }
        if hosts.len() > 1 && !cluster {
            return Err(bad(
                "several hosts are only meaningful for a cluster: use redis+cluster://".into(),
            ));
        }
        let base = if tls { "rediss" } else { "redis" };
        let mut tls_opts = TlsSettings::default();
        let mut nodes = Vec::with_capacity(hosts.len());
        for host in hosts {
            let mut parsed = url::Url::parse(&format!("{base}://{userinfo}{host}{tail}"))
                .map_err(|e| bad(e.to_string()))?;
            tls_opts = self.take_params(&mut parsed, tls).map_err(&bad)?;
            if parsed.port().is_none() && cluster && host.contains(':') {
                return Err(bad(format!("bad port in {}", self.shown(host))));
            }
            let info = redis::IntoConnectionInfo::into_connection_info(parsed)
                .map_err(|e| bad(e.to_string()))?;
            if cluster && info.redis_settings().db() != 0 {
                return Err(bad(
                    "Redis Cluster has only database 0: drop the /db from the URL".into(),
                ));
            }
            // No CLIENT SETINFO at connect: redis-rs reads each handshake reply with the full
            // timeout, so a Redis that accepts and never answers would cost one connect
            // timeout per handshake command instead of one in all.
            let settings = info.redis_settings().clone().set_skip_set_lib_name();
            nodes.push(info.set_redis_settings(settings));
        }
        let tls = if tls {
            Some(tls_opts.load().map_err(bad)?)
        } else {
            None
        };
        Ok(Endpoint {
            nodes,
            cluster,
            tls,
        })
    }

    fn unix_endpoint(&self, url: &str) -> std::result::Result<Endpoint, String> {
        let info =
            redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| e.to_string())?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        Ok(Endpoint {
            nodes: vec![info.set_redis_settings(settings)],
            cluster: false,
            tls: None,
        })
    }

    /// Takes symple's own query parameters out of `url` (the redis crate refuses none, so a
    /// typo would otherwise be ignored); the options set in code win over the URL's.
    fn take_params(
        &self,
        url: &mut url::Url,
        tls: bool,
    ) -> std::result::Result<TlsSettings, String> {
        if let Some(f) = url.fragment() {
            return Err(format!(
                "unsupported URL fragment #{} (for development without certificate checks, use ?tls_insecure=true)",
                self.shown(f)
            ));
        }
        let mut settings = TlsSettings::default();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "tls_ca" if tls => {
                    settings.ca_shown = self.shown(&v);
                    settings.ca_file = Some(PathBuf::from(v.as_ref()));
                }
                "tls_insecure" if tls => {
                    settings.insecure = parse_bool(&v).map_err(|bad| {
                        format!(
                            "tls_insecure must be true or false, not {:?}",
                            self.shown(bad)
                        )
                    })?
                }
                "tls_ca" | "tls_insecure" => {
                    return Err(format!("{k} applies to TLS: use rediss://"))
                }
                other => {
                    return Err(format!(
                        "unknown URL parameter {:?} (known: tls_ca, tls_insecure)",
                        self.shown(other)
                    ))
                }
            }
        }
        url.set_query(None);
        if let Some(ca) = &self.tls_ca_file {
            settings.ca_shown = ca.display().to_string();
            settings.ca_file = Some(ca.clone());
        }
        if let Some(i) = self.tls_insecure {
            settings.insecure = i;
        }
        if !tls && (settings.ca_file.is_some() || settings.insecure) {
            return Err("TLS options need a rediss:// URL".into());
        }
        Ok(settings)
    }

    /// The warning to show at start-up when the options skip TLS certificate checks.
    ///
    /// ```
    /// use symple::redis::ConnectOptions;
    /// assert!(ConnectOptions::new("rediss://h:6380?tls_insecure=true").insecure_warning().is_some());
    /// assert!(ConnectOptions::new("rediss://h:6380").insecure_warning().is_none());
    /// ```
    pub fn insecure_warning(&self) -> Option<String> {
        self.is_insecure().then(|| {
            format!(
                "TLS certificate checks are off for {} (tls_insecure): anyone on the network path can read and forge this traffic; use it for development only",
                self.redacted()
            )
        })
    }

    /// True when the options skip TLS certificate checks (callers warn about it).
    pub fn is_insecure(&self) -> bool {
        self.endpoint()
            .ok()
            .and_then(|e| e.tls)
            .is_some_and(|t| t.insecure)
    }
}

/// `Err` gives the value back, for the message.
fn parse_bool(v: &str) -> std::result::Result<bool, &str> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(v),
    }
}

/// The scheme of `url`, lower-cased, when it has one.
fn scheme(url: &str) -> Option<String> {
    let (s, _) = url.trim().split_once("://")?;
    is_scheme(s).then(|| s.to_ascii_lowercase())
}

#[derive(Default)]
struct TlsSettings {
    ca_file: Option<PathBuf>,
    /// The CA file's path as error messages show it.
    ca_shown: String,
    insecure: bool,
}

impl TlsSettings {
    fn load(self) -> std::result::Result<Tls, String> {
        if !cfg!(feature = "tls") {
            return Err(
                "rediss:// needs TLS, which this build of symple leaves out (cargo feature `tls`)"
                    .into(),
            );
        }
        let ca_pem = match &self.ca_file {
            Some(path) if !self.insecure => Some(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read the CA file {}: {e}", self.ca_shown))?,
            ),
            _ => None,
        };
        Ok(Tls {
            ca_pem,
            insecure: self.insecure,
        })
    }
}

/// TLS settings of an endpoint (never made in a build without TLS).
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct Tls {
    /// CA certificates to trust instead of the system's.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// No certificate checks at all.
    pub(crate) insecure: bool,
}

/// A parsed URL: one node, or the seed nodes of a cluster.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) nodes: Vec<redis::ConnectionInfo>,
    pub(crate) cluster: bool,
    pub(crate) tls: Option<Tls>,
}

impl Endpoint {
    /// A client for one node (the first, for a single-node URL the only one).
    pub(crate) fn client(&self) -> redis::RedisResult<redis::Client> {
        self.node_client(&self.nodes[0])
    }

    /// A client for `info`, with this endpoint's TLS settings.
    pub(crate) fn node_client(
        &self,
        info: &redis::ConnectionInfo,
    ) -> redis::RedisResult<redis::Client> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            if let redis::ConnectionAddr::TcpTls { host, port, .. } = info.addr() {
                if tls.insecure {
                    let addr = redis::ConnectionAddr::TcpTls {
                        host: host.clone(),
                        port: *port,
                        insecure: true,
                        tls_params: None,
                    };
                    return redis::Client::open(info.clone().set_addr(addr));
                }
                if let Some(ca) = &tls.ca_pem {
                    return redis::Client::build_with_tls(
                        info.clone(),
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(ca.clone()),
                        },
                    );
                }
            }
        }
        redis::Client::open(info.clone())
    }

    /// A cluster client over the seed nodes, with `opts`' timeouts and TLS settings.
    pub(crate) fn cluster_client(
        &self,
        opts: &ConnectOptions,
    ) -> redis::RedisResult<redis::cluster::ClusterClient> {
        self.cluster_builder(opts).build()
    }

    /// [`cluster_client`](Self::cluster_client), not yet built (the server's subscriber
    /// adds RESP3 and a push sender).
    pub(crate) fn cluster_builder(
        &self,
        opts: &ConnectOptions,
    ) -> redis::cluster::ClusterClientBuilder {
        let b = redis::cluster::ClusterClientBuilder::new(self.nodes.clone())
            .connection_timeout(opts.connect_timeout)
            .response_timeout(opts.response_timeout)
            // Each attempt is bounded by the response timeout, and so is the whole request
            // with its retries (MOVED, ASK, a failover): past it the caller gets an error.
            .overall_response_timeout(Some(opts.response_timeout));
        #[cfg(feature = "tls")]
        let b = match &self.tls {
            Some(tls) if tls.insecure => b.tls(redis::TlsMode::Insecure),
            Some(Tls {
                ca_pem: Some(ca), ..
            }) => b.tls(redis::TlsMode::Secure).certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.clone()),
            }),
            Some(_) => b.tls(redis::TlsMode::Secure),
            None => b,
        };
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Result<Endpoint> {
        ConnectOptions::new(url).endpoint()
    }

    fn refused(url: &str, needle: &str) {
        let e = endpoint(url).unwrap_err().to_string();
        assert!(e.contains(needle), "{url}: {e}");
        assert!(!e.contains("s3cret"), "password shown: {e}");
    }

    #[test]
    fn single_node_forms() {
        let e = endpoint("redis://user:p%40ss@127.0.0.1:6400/3").unwrap();
        assert!(!e.cluster && e.tls.is_none());
        let r = e.nodes[0].redis_settings();
        assert_eq!(
            (r.username(), r.password(), r.db()),
            (Some("user"), Some("p@ss"), 3)
        );
        assert!(endpoint("redis://127.0.0.1").is_ok());
        assert!(endpoint("unix:///tmp/redis.sock").is_ok());
    }

    #[test]
    fn cluster_forms() {
        let e = endpoint("redis+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001").unwrap();
        assert!(e.cluster);
        assert_eq!(e.nodes.len(), 2);
        assert_eq!(e.nodes[1].redis_settings().password(), Some("pw"));
        assert!(ConnectOptions::new("REDIS+CLUSTER://h:1").is_cluster());
    }

    #[test]
    #[cfg(feature = "tls")]
    fn tls_forms() {
        let e = endpoint("rediss://h:6380?tls_insecure=true").unwrap();
        assert!(e.tls.unwrap().insecure);
        assert!(ConnectOptions::new("rediss://h:1?tls_insecure=1").is_insecure());
        assert!(!ConnectOptions::new("rediss://h:1").is_insecure());
        refused(
            "rediss://h:1?tls_ca=/nonexistent/ca.pem",
            "cannot read the CA file",
        );
    }

    #[test]
    fn bad_urls_are_named_with_the_password_masked() {
        refused("http://u:s3cret@h:1", "unsupported scheme http://");
        refused("localhost:6379", "not a Redis URL");
        refused("redis://u:s3cret@a:1,b:2", "redis+cluster://");
        refused("redis+cluster://u:s3cret@a:1/2", "only database 0");
        refused("redis://u:s3cret@h:1?tls_ca=x", "rediss://");
        refused("redis://u:s3cret@h:1?timeout=3", "unknown URL parameter");
        refused("rediss://u:s3cret@h:1#insecure", "tls_insecure=true");
        refused("redis://u:s3cret@h:1/x", "database");
        refused("redis+cluster://u:s3cret@a:1,,b:2", "missing host");
        // The password never shows, also when it is not escaped or the scheme is missing.
        refused("redis://u:p@ss#s3cret@h:1", "fragment");
        refused("redis://u:1?s3cret@h:1", "unknown URL parameter");
        refused("u:s3cret@h:1", "not a Redis URL");
    }
}
