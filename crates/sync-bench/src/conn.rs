//! Opening sockets the way a LiveStore client does: `GET <url>/websocket?storeId=..&payload=..`
//! (0.3.1) or `GET <url>?storeId=..&payload=..&transport=ws` (0.4), with the auth token
//! inside the URI-encoded JSON payload, under a connect timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use chrono::Utc;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use rand::Rng;
use shared::constants::{DEFAULT_ACCESS_TOKEN_TTL, INSECURE_DEV_TOKEN};
use shared::secret::Secret;
use shared::{JwtKeys, Role};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use crate::cli::GlobalOpts;
use crate::wire::Protocol;

/// A connected client socket.
pub type Socket = WebSocketStream<TcpStream>;

/// How sockets authenticate: a fresh HS256 access token each, the legacy dev token, or none.
#[derive(Clone)]
pub enum TokenSource {
    Jwt(Arc<JwtKeys>),
    Dev,
    None,
}

impl TokenSource {
    pub fn from_opts(opts: &GlobalOpts) -> Self {
        match (&opts.jwt_secret, opts.dev_token) {
            (Some(secret), _) => Self::Jwt(Arc::new(JwtKeys::new(
                &Secret::new(secret.clone()),
                &opts.jwt_issuer,
            ))),
            (None, true) => Self::Dev,
            (None, false) => Self::None,
        }
    }

    /// A token for bench user `n` on `store_id`, or `None` when sockets go
    /// unauthenticated. A minted token names the store in its `mem` claim (role owner),
    /// as auth-worker's tokens do for a member: sync-worker enforces store membership,
    /// while servers that do not read the claim ignore it.
    pub fn token(&self, n: usize, store_id: &str) -> anyhow::Result<Option<String>> {
        match self {
            Self::Jwt(keys) => {
                let user = format!("bench-user-{n}");
                let mut claims = keys.access_claims(
                    &user,
                    &format!("{user}@bench.invalid"),
                    &format!("bench-session-{n}"),
                    DEFAULT_ACCESS_TOKEN_TTL,
                    Utc::now(),
                );
                claims.mem.insert(store_id.to_owned(), Role::Owner);
                let token = keys
                    .sign_access_token(&claims)
                    .map_err(|e| anyhow!("minting an access token: {e}"))?;
                Ok(Some(token))
            }
            Self::Dev => Ok(Some(INSECURE_DEV_TOKEN.to_owned())),
            Self::None => Ok(None),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Jwt(_) => "jwt",
            Self::Dev => "dev-token",
            Self::None => "none",
        }
    }
}

/// Everything needed to open sockets for one run.
#[derive(Clone)]
pub struct Connector {
    base: String,
    protocol: Protocol,
    /// Where receiving sockets connect, in turn (`--receiver-url`; default `base`).
    receiver_bases: Arc<[String]>,
    tokens: TokenSource,
    connect_timeout: Duration,
    config: WebSocketConfig,
    /// Local addresses sockets are opened from, in turn (empty: the kernel's choice).
    sources: Arc<[IpAddr]>,
    next_source: Arc<AtomicUsize>,
}

impl Connector {
    pub fn new(opts: &GlobalOpts) -> anyhow::Result<Self> {
        let base = opts.protocol.endpoint(&opts.url)?;
        let receiver_bases: Vec<String> = match &opts.receiver_url {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(|url| opts.protocol.endpoint(url))
                .collect::<anyhow::Result<_>>()
                .context("--receiver-url")?,
            None => Vec::new(),
        };
        let receiver_bases = if receiver_bases.is_empty() {
            vec![base.clone()]
        } else {
            receiver_bases
        };
        // Small initial buffers: the bench may hold tens of thousands of idle sockets, and
        // the library's 128 KiB read buffer each would dominate the client's memory.
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(64 << 20));
        Ok(Self {
            base,
            protocol: opts.protocol,
            receiver_bases: receiver_bases.into(),
            tokens: TokenSource::from_opts(opts),
            connect_timeout: opts.connect_timeout(),
            config,
            sources: parse_source_addrs(opts.source_addrs.as_deref().unwrap_or(""))?.into(),
            next_source: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The same connector with another initial read buffer per socket. tungstenite zeroes
    /// the whole buffer on every read attempt, so sockets that receive only small frames
    /// (fanout receivers, idle sockets) use a small one.
    pub fn with_read_buffer(&self, bytes: usize) -> Self {
        let mut this = self.clone();
        this.config = this.config.read_buffer_size(bytes.max(1024));
        this
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// The full URL for `store_id` with a token (if any), as a LiveStore client builds it.
    pub fn url_for(&self, store_id: &str, token: Option<&str>) -> String {
        self.url_on(&self.base, store_id, token)
    }

    /// The base URLs receiving sockets use (`--receiver-url`, else `--url`).
    pub fn receiver_bases(&self) -> &[String] {
        &self.receiver_bases
    }

    /// Which receiver base the `i`-th receiving socket uses (they take turns).
    pub fn receiver_node(&self, i: usize) -> usize {
        i % self.receiver_bases.len()
    }

    /// The URL of the `i`-th receiving socket of `store_id`.
    pub fn receiver_url_for(&self, i: usize, store_id: &str, token: Option<&str>) -> String {
        self.url_on(&self.receiver_bases[self.receiver_node(i)], store_id, token)
    }

    fn url_on(&self, base: &str, store_id: &str, token: Option<&str>) -> String {
        let instance = format!("bench-{:08x}", rand::thread_rng().gen::<u32>());
        let payload = match token {
            Some(t) => serde_json::json!({ "instanceId": instance, "authToken": t }),
            None => serde_json::json!({ "instanceId": instance }),
        };
        format!(
            "{}?storeId={}&payload={}{}",
            base,
            percent_encode(store_id),
            percent_encode(&payload.to_string()),
            self.protocol.extra_query()
        )
    }

    /// Mints a token for user `n` and connects to `store_id`.
    pub async fn connect(&self, store_id: &str, n: usize) -> anyhow::Result<Socket> {
        let token = self.tokens.token(n, store_id)?;
        self.connect_url(&self.url_for(store_id, token.as_deref()))
            .await
    }

    /// Opens one socket to a prepared URL, failing after the connect timeout.
    pub async fn connect_url(&self, url: &str) -> anyhow::Result<Socket> {
        tokio::time::timeout(self.connect_timeout, self.handshake(url))
            .await
            .map_err(|_| anyhow!("connect timed out after {:?}", self.connect_timeout))?
    }

    async fn handshake(&self, url: &str) -> anyhow::Result<Socket> {
        let request = url.into_client_request().context("building the request")?;
        let host = request.uri().host().context("URL has no host")?.to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let stream = self.tcp_connect(&host, port).await?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (socket, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(self.config))
                .await
                .map_err(describe_handshake_error)?;
        Ok(socket)
    }

    /// A TCP connection to `host:port`, from the next source address when some are set.
    async fn tcp_connect(&self, host: &str, port: u16) -> anyhow::Result<TcpStream> {
        if self.sources.is_empty() {
            return TcpStream::connect((host, port))
                .await
                .with_context(|| format!("TCP connect to {host}:{port}"));
        }
        let n = self.next_source.fetch_add(1, Ordering::Relaxed);
        let source = self.sources[n % self.sources.len()];
        let target = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .find(|a| a.is_ipv4() == source.is_ipv4())
            .ok_or_else(|| anyhow!("{host} has no address of the family of {source}"))?;
        let socket = if source.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .context("creating a TCP socket")?;
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("binding source address {source}"))?;
        socket
            .connect(target)
            .await
            .with_context(|| format!("TCP connect to {target} from {source}"))
    }

    /// Opens one socket per URL with at most `concurrency` handshakes in progress; returns
    /// them in URL order with each handshake's duration. Fails on the first error.
    pub async fn connect_many(
        &self,
        urls: Vec<String>,
        concurrency: usize,
    ) -> anyhow::Result<Vec<(Socket, Duration)>> {
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut pending = FuturesUnordered::new();
        for (i, url) in urls.into_iter().enumerate() {
            let gate = Arc::clone(&gate);
            let this = self.clone();
            pending.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                let started = tokio::time::Instant::now();
                let socket = this
                    .connect_url(&url)
                    .await
                    .with_context(|| format!("socket {i}"))?;
                anyhow::Ok((i, socket, started.elapsed()))
            }));
        }
        let mut out: Vec<Option<(Socket, Duration)>> = Vec::new();
        out.resize_with(pending.len(), || None);
        while let Some(joined) = pending.next().await {
            let (i, socket, took) = joined.context("connect task panicked")??;
            out[i] = Some((socket, took));
        }
        out.into_iter()
            .map(|s| s.ok_or_else(|| anyhow!("a socket was not opened")))
            .collect()
    }
}

/// Parses `--source-addrs`: comma-separated addresses, an IPv4 item may be a range of
/// its last octet (`127.0.0.2-127.0.0.9`). Each local address has its own ephemeral
/// port range, so several of them allow more sockets to one server port than one does.
pub fn parse_source_addrs(text: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.split_once('-') {
            Some((first, last)) => {
                let first: Ipv4Addr = first
                    .trim()
                    .parse()
                    .with_context(|| format!("bad source address {first:?}"))?;
                let last: Ipv4Addr = last
                    .trim()
                    .parse()
                    .with_context(|| format!("bad source address {last:?}"))?;
                let (a, b) = (first.octets(), last.octets());
                if a[..3] != b[..3] || a[3] > b[3] {
                    bail!("source range {item:?} must vary only the last octet, upwards");
                }
                for octet in a[3]..=b[3] {
                    out.push(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], octet)));
                }
            }
            None => out.push(
                item.parse()
                    .with_context(|| format!("bad source address {item:?}"))?,
            ),
        }
    }
    Ok(out)
}

/// Error text for a failed handshake, with the server's rejection body when there is one.
fn describe_handshake_error(err: tokio_tungstenite::tungstenite::Error) -> anyhow::Error {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            anyhow!(
                "server refused the upgrade: HTTP {} {}",
                response.status(),
                body
            )
        }
        other => anyhow!("WebSocket handshake failed: {other}"),
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters, as
/// `encodeURIComponent` does for the characters that matter here.
pub fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A fresh random store id, so runs never collide with earlier data.
pub fn fresh_store_id(prefix: &str, scenario: &str, index: usize) -> String {
    let run: u64 = rand::thread_rng().gen();
    format!("{prefix}-{scenario}-{run:016x}-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_matches_encode_uri_component() {
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode(r#"{"a":1}"#), "%7B%22a%22%3A1%7D");
        assert_eq!(percent_encode("é "), "%C3%A9%20");
    }

    #[test]
    fn source_addresses_and_ranges() {
        let addrs = parse_source_addrs("127.0.0.2-127.0.0.4, ::1").unwrap();
        let text: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "::1"]);
        assert!(parse_source_addrs("").unwrap().is_empty());
        assert!(parse_source_addrs("127.0.0.4-127.0.0.2").is_err());
        assert!(parse_source_addrs("127.0.0.1-127.0.1.2").is_err());
        assert!(parse_source_addrs("nope").is_err());
    }

    #[test]
    fn minted_tokens_name_the_store() {
        let keys = Arc::new(JwtKeys::new(&Secret::new("s".repeat(32)), "iss"));
        let token = TokenSource::Jwt(Arc::clone(&keys))
            .token(3, "store-a")
            .unwrap()
            .unwrap();
        let verified = keys.verify_access_token(&token).unwrap();
        assert_eq!(verified.claims.mem.get("store-a"), Some(&Role::Owner));
        assert_eq!(verified.claims.mem.len(), 1);
    }
}
