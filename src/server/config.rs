//! Server settings, read from the same environment variables as the Node symple-server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Everything the server can be told.
///
/// ```
/// let c = symple::server::Config::default();
/// assert_eq!(c.addr.port(), 4500);
/// assert!(c.dynamic_rooms && !c.authentication);
/// assert_eq!((c.rate_limit, c.rate_seconds), (100.0, 10.0));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Require a token whose session is in Redis.
    pub authentication: bool,
    /// Let clients `join` and `leave` rooms.
    pub dynamic_rooms: bool,
    /// Keep a connected peer's session alive this long after activity (`None`: never touch).
    pub session_ttl: Option<Duration>,
    /// Redis for sessions, emitter packets and clustering; `None` runs a lone instance.
    pub redis_url: Option<String>,
    /// TLS key and certificate (PEM), for wss.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Most simultaneous connections; 0 = as many as the open-file limit allows.
    pub max_connections: usize,
    /// Largest accepted text frame in bytes.
    pub max_message_size: usize,
    /// Messages a peer may send per `rate_seconds`.
    pub rate_limit: f64,
    /// The rate window in seconds.
    pub rate_seconds: f64,
    /// How long a connection may stay without authenticating.
    pub auth_timeout: Duration,
    /// How often to ping an idle client; one that stays silent for twice this is dropped.
    pub ping_interval: Duration,
    /// Serve the demo page at `/demo` (see `symple server --demo`).
    pub demo: bool,
    /// Frames queued for one client before it is disconnected as a slow consumer (4008).
    pub max_queued: usize,
    /// How long one write to a client may take before it is disconnected as a slow
    /// consumer (4008); while a write is pending this also does the keepalive's job.
    pub write_timeout: Duration,
    /// How long a TCP connection may take to complete its HTTP request (the upgrade).
    pub upgrade_timeout: Duration,
    /// Most simultaneous connections from one IP address; 0 = no per-address limit.
    pub max_connections_per_address: usize,
    /// Token mode: let clients join any room (the Node server's behaviour) instead of only
    /// the rooms their session's `join` list permits. Warned about at start-up.
    pub open_joins: bool,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` headers are believed; none by default.
    pub trusted_proxies: Vec<IpNet>,
    /// Origins allowed to open a WebSocket (exact `scheme://host[:port]`); empty = any.
    pub allowed_origins: Vec<String>,
    /// Keep the client's address (`host`) out of its peer object, so room mates never see it.
    pub hide_host: bool,
    /// Serve `/metrics` on this address instead of the public port.
    pub metrics_addr: Option<SocketAddr>,
    /// Rooms larger than this (members on this instance) get no presence fan-out: joining
    /// or leaving one is not announced to its members, and a joiner gets no roster of it.
    pub presence_limit: usize,
    /// Within this time after an instance of the cluster dies without saying goodbye, the
    /// others announce its peers offline (heartbeats every eighth of it, expiring after half).
    pub instance_timeout: Duration,
    /// Rooms (names and `*` patterns; `*` alone = every room, users' personal rooms
    /// included) whose messages are kept in a Redis Stream, so a reconnecting client can
    /// recover what it missed. Empty: no history.
    pub history: Vec<String>,
    /// How much each history-enabled room keeps.
    pub history_settings: crate::history::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4500),
            authentication: false,
            dynamic_rooms: true,
            session_ttl: None,
            redis_url: None,
            tls: None,
            max_connections: 0,
            max_message_size: 65536,
            rate_limit: 100.0,
            rate_seconds: 10.0,
            auth_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            demo: false,
            max_queued: 1024,
            write_timeout: Duration::from_secs(10),
            upgrade_timeout: Duration::from_secs(10),
            max_connections_per_address: 0,
            open_joins: false,
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            hide_host: false,
            metrics_addr: None,
            presence_limit: 100,
            instance_timeout: Duration::from_secs(15),
            history: Vec::new(),
            history_settings: crate::history::Settings::default(),
        }
    }
}

impl Config {
    /// Reads `PORT`/`SYMPLE_PORT`, `SYMPLE_AUTHENTICATION`, `SYMPLE_DYNAMIC_ROOMS`,
    /// `SYMPLE_SESSION_TTL` (minutes, -1 = never), `SYMPLE_REDIS_URL`/`REDIS_URL`,
    /// `SYMPLE_REDIS_HOST`/`SYMPLE_REDIS_PORT`, `SYMPLE_SSL_ENABLED`/`SYMPLE_SSL_KEY`/`SYMPLE_SSL_CERT`.
    ///
    /// ```
    /// let c = symple::server::Config::from_env_with(|k| match k {
    ///     "SYMPLE_PORT" => Some("4600".into()),
    ///     "SYMPLE_AUTHENTICATION" => Some("true".into()),
    ///     "SYMPLE_REDIS_HOST" => Some("127.0.0.1".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(c.addr.port(), 4600);
    /// assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn from_env_with(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut c = Config::default();
        if let Some(p) = get("SYMPLE_PORT").or_else(|| get("PORT")) {
            c.addr.set_port(parse(&p, "port")?);
        }
        if let Some(v) = get("SYMPLE_AUTHENTICATION") {
            c.authentication = parse_bool(&v, "SYMPLE_AUTHENTICATION")?;
        }
        if let Some(v) = get("SYMPLE_DYNAMIC_ROOMS") {
            c.dynamic_rooms = parse_bool(&v, "SYMPLE_DYNAMIC_ROOMS")?;
        }
        if let Some(v) = get("SYMPLE_SESSION_TTL") {
            let minutes: i64 = parse(&v, "SYMPLE_SESSION_TTL")?;
            c.session_ttl = (minutes > 0).then(|| Duration::from_secs(minutes as u64 * 60));
        }
        if let Some(v) = get("SYMPLE_INSTANCE_TIMEOUT") {
            let secs: f64 = parse(&v, "SYMPLE_INSTANCE_TIMEOUT")?;
            c.instance_timeout = Duration::try_from_secs_f64(secs)
                .map_err(|_| config_error("SYMPLE_INSTANCE_TIMEOUT must be seconds"))?;
        }
        if let Some(v) = get("SYMPLE_HISTORY") {
            c.history = split_list(&v);
        }
        if let Some(v) = get("SYMPLE_HISTORY_SIZE") {
            c.history_settings.size = parse(&v, "SYMPLE_HISTORY_SIZE")?;
        }
        if let Some(v) = get("SYMPLE_HISTORY_AGE") {
            let secs: f64 = parse(&v, "SYMPLE_HISTORY_AGE")?;
            c.history_settings.age = Duration::try_from_secs_f64(secs)
                .map_err(|_| config_error("SYMPLE_HISTORY_AGE must be seconds"))?;
        }
        c.redis_url = get("SYMPLE_REDIS_URL")
            .or_else(|| get("REDIS_URL"))
            .or_else(|| {
                get("SYMPLE_REDIS_HOST").map(|h| {
                    let port = get("SYMPLE_REDIS_PORT").unwrap_or_else(|| "6379".into());
                    format!("redis://{h}:{port}")
                })
            });
        if get("SYMPLE_SSL_ENABLED")
            .map(|v| parse_bool(&v, "SYMPLE_SSL_ENABLED"))
            .transpose()?
            == Some(true)
        {
            match (get("SYMPLE_SSL_KEY"), get("SYMPLE_SSL_CERT")) {
                (Some(k), Some(c2)) => c.tls = Some((k.into(), c2.into())),
                _ => {
                    return Err(config_error(
                        "SYMPLE_SSL_ENABLED needs SYMPLE_SSL_KEY and SYMPLE_SSL_CERT",
                    ))
                }
            }
        }
        Ok(c)
    }

    /// [`from_env_with`](Self::from_env_with) over the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_env_with(|k| std::env::var(k).ok())
    }

    /// Checks the settings fit together.
    pub fn validate(&self) -> Result<()> {
        if self.authentication && self.redis_url.is_none() {
            return Err(config_error(
                "token authentication needs Redis: set SYMPLE_REDIS_URL or --redis-url",
            ));
        }
        if self.rate_limit <= 0.0 || self.rate_seconds <= 0.0 {
            return Err(config_error("rate limit and rate window must be positive"));
        }
        if self.max_message_size == 0 {
            return Err(config_error("max message size must be positive"));
        }
        // It drives a timer, which cannot tick every 0 s.
        if self.ping_interval.is_zero() {
            return Err(config_error("ping interval must be positive"));
        }
        if self.max_queued == 0 {
            return Err(config_error("max queued frames must be positive"));
        }
        if self.instance_timeout < Duration::from_millis(800) {
            return Err(config_error(
                "instance timeout must be at least 0.8 s (heartbeats every eighth of it)",
            ));
        }
        if self.write_timeout.is_zero() || self.upgrade_timeout.is_zero() {
            return Err(config_error("write and upgrade timeouts must be positive"));
        }
        if !self.history.is_empty() {
            if self.redis_url.is_none() {
                return Err(config_error(
                    "history needs Redis: set SYMPLE_REDIS_URL or --redis-url",
                ));
            }
            let s = &self.history_settings;
            if s.size == 0 || s.age < Duration::from_millis(1) {
                return Err(config_error("history size and age must be positive"));
            }
        }
        if let Some(bad) = self.allowed_origins.iter().find(|o| !valid_origin(o)) {
            return Err(config_error(&format!(
                "allowed origin {bad:?} is not scheme://host[:port] (no path, no trailing slash)"
            )));
        }
        Ok(())
    }

    /// Warnings about unsafe settings, for start-up.
    ///
    /// ```
    /// let c = symple::server::Config { authentication: true, open_joins: true, ..Default::default() };
    /// assert!(c.warnings()[0].contains("any room"));
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.authentication && self.open_joins && self.dynamic_rooms {
            w.push(
                "open joins: any authenticated client can join any room, whatever its session \
                 permits (--open-joins)"
                    .to_owned(),
            );
        }
        if !self.authentication {
            w.push(
                "anonymous mode: clients choose their own user and rooms (set \
                 SYMPLE_AUTHENTICATION=true for token authentication)"
                    .to_owned(),
            );
        }
        w
    }

    /// Whether `room` keeps history (see [`history`](Self::history)).
    ///
    /// ```
    /// let c = symple::server::Config { history: vec!["chat-*".into(), "lobby".into()], ..Default::default() };
    /// assert!(c.keeps_history("chat-1") && c.keeps_history("lobby"));
    /// assert!(!c.keeps_history("lobby2") && !symple::server::Config::default().keeps_history("x"));
    /// ```
    pub fn keeps_history(&self, room: &str) -> bool {
        self.history
            .iter()
            .any(|p| crate::server::auth::glob(p, room))
    }

    /// Whether a WebSocket upgrade with this `Origin` header (or none) may proceed.
    ///
    /// ```
    /// let c = symple::server::Config { allowed_origins: vec!["https://app.example".into()], ..Default::default() };
    /// assert!(c.origin_allowed(Some("https://app.example")));
    /// assert!(!c.origin_allowed(Some("https://evil.example")));
    /// assert!(!c.origin_allowed(None), "a list means browsers only, from those origins");
    /// assert!(symple::server::Config::default().origin_allowed(None));
    /// ```
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        if self.allowed_origins.is_empty() {
            return true;
        }
        origin.is_some_and(|o| {
            self.allowed_origins
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(o))
        })
    }

    /// Whether forwarding headers from `peer` are believed.
    pub fn trusts_proxy(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }

    /// The address of a client whose connection comes from `remote`: `remote`, or, when it
    /// is a trusted proxy, what the proxy says (`X-Forwarded-For` read from the right,
    /// skipping trusted proxies, then `X-Real-IP`).
    ///
    /// ```
    /// use axum::http::HeaderMap;
    /// use std::net::IpAddr;
    /// let c = symple::server::Config {
    ///     trusted_proxies: symple::server::parse_networks("10.0.0.0/8")?,
    ///     ..Default::default()
    /// };
    /// let mut h = HeaderMap::new();
    /// h.insert("x-forwarded-for", "6.6.6.6, 10.0.0.2".parse().unwrap());
    /// let (proxy, direct): (IpAddr, IpAddr) = ("10.0.0.1".parse()?, "7.7.7.7".parse()?);
    /// assert_eq!(c.client_address(proxy, &h), "6.6.6.6".parse::<IpAddr>()?);
    /// assert_eq!(c.client_address(direct, &h), direct, "only a trusted proxy is believed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_address(&self, remote: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let remote = canonical(remote);
        if !self.trusts_proxy(remote) {
            return remote;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts_proxy(ip) => continue,
                Ok(ip) => return canonical(ip),
                Err(_) => break,
            }
        }
        headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .map_or(remote, canonical)
    }
}

/// An IPv4 address seen as IPv6 (`::ffff:a.b.c.d`, from a dual-stack listener) as IPv4.
///
/// ```
/// use std::net::IpAddr;
/// let mapped: IpAddr = "::ffff:10.0.0.5".parse()?;
/// assert_eq!(symple::server::canonical(mapped), "10.0.0.5".parse::<IpAddr>()?);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn valid_origin(o: &str) -> bool {
    if o == "*" {
        return true;
    }
    match o.split_once("://") {
        Some((scheme, host)) => {
            !scheme.is_empty() && !host.is_empty() && !host.contains('/') && !host.contains(' ')
        }
        None => false,
    }
}

/// Reads a list of addresses or CIDRs (`10.0.0.1`, `10.0.0.0/8`, `::1`), comma-separated.
///
/// ```
/// let nets = symple::server::parse_networks("127.0.0.1, 10.0.0.0/8")?;
/// assert_eq!(nets.len(), 2);
/// assert!(symple::server::parse_networks("10.0.0.0/99").is_err());
/// # Ok::<(), symple::Error>(())
/// ```
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| config_error(&format!("{s:?} is not an IP address or CIDR")))
        })
        .collect()
}

/// A comma-separated list, trimmed, without empty items.
pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect()
}

fn config_error(msg: &str) -> Error {
    Error::InvalidConfig(msg.to_owned())
}

fn parse<T: std::str::FromStr>(v: &str, what: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| config_error(&format!("{what}: cannot read {v:?}")))
}

fn parse_bool(v: &str, what: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(config_error(&format!(
            "{what}: expected true or false, not {v:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn reads_node_variables() {
        let c = Config::from_env_with(env(&[
            ("PORT", "5000"),
            ("SYMPLE_DYNAMIC_ROOMS", "false"),
            ("SYMPLE_SESSION_TTL", "15"),
            ("REDIS_URL", "redis://r:1"),
        ]))
        .unwrap();
        assert_eq!(c.addr.port(), 5000);
        assert!(!c.dynamic_rooms);
        assert_eq!(c.session_ttl, Some(Duration::from_secs(900)));
        assert_eq!(c.redis_url.as_deref(), Some("redis://r:1"));
        let c = Config::from_env_with(env(&[("SYMPLE_SESSION_TTL", "-1")])).unwrap();
        assert_eq!(c.session_ttl, None);
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::from_env_with(env(&[("SYMPLE_AUTHENTICATION", "maybe")])).unwrap_err();
        assert!(e.to_string().contains("SYMPLE_AUTHENTICATION"), "{e}");
        let e = Config::from_env_with(env(&[("SYMPLE_SSL_ENABLED", "true")])).unwrap_err();
        assert!(e.to_string().contains("SYMPLE_SSL_KEY"), "{e}");
        let c = Config {
            authentication: true,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("needs Redis"));
        let c = Config {
            ping_interval: Duration::ZERO,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("ping"));
    }
}
