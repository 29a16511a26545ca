//! Cold start of the functions, measured locally.
//!
//! Lambda reports a custom runtime's `Init Duration` as the time from starting the
//! `bootstrap` executable to its first `GET /2018-06-01/runtime/invocation/next`.
//! [`FakeRuntime`] is a minimal Runtime API on `127.0.0.1:0` that notes when each
//! request arrives; [`measure`] spawns a function binary against it and returns
//! that interval, the first (warm-up) invocation's duration and the process's peak
//! resident memory. `benches/coldstart.rs` runs it per function and writes the
//! table; the helpers for sizes ([`zipped_size`], [`elf_arch`]) and statistics
//! ([`percentile`]) live here so that they are unit-tested.
//!
//! Everything is std: no async runtime, no HTTP crate, so the bench builds in
//! seconds beside the release build it measures.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The Runtime API's path prefix.
pub const API: &str = "/2018-06-01/runtime";

/// A request the fake runtime received, with when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// `GET …/invocation/next`: the function is ready for an event.
    Next(Instant),
    /// `POST …/invocation/<id>/response`: the handler answered.
    Response(Instant),
    /// `POST …/init/error` or `…/invocation/<id>/error`, with the body.
    Error(Instant, String),
}

/// A minimal Lambda Runtime API: answers every `invocation/next` with `event`
/// (so the function runs its handler once) and acknowledges responses and errors.
pub struct FakeRuntime {
    addr: SocketAddr,
    hits: Receiver<Hit>,
}

impl FakeRuntime {
    /// Listens on `127.0.0.1:0`; `event` is the JSON payload of every invocation.
    pub fn start(event: &str) -> io::Result<FakeRuntime> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, hits) = mpsc::channel();
        let event = event.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tx, event) = (tx.clone(), event.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &tx, &event);
                });
            }
        });
        Ok(FakeRuntime { addr, hits })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Drops hits left from an earlier process.
    pub fn drain(&self) {
        while self.hits.try_recv().is_ok() {}
    }

    /// The next hit, or `None` after `timeout`.
    pub fn next_hit(&self, timeout: Duration) -> Option<Hit> {
        self.hits.recv_timeout(timeout).ok()
    }
}

/// One HTTP/1.1 request: method, path and body (headers are read and dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// Reads one request from a keep-alive connection; `None` at end of stream.
/// Bodies with `Content-Length` or `Transfer-Encoding: chunked` are read whole.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, line));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut chunk = vec![0; size + 2]; // the data and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break; // (no trailers are sent to the Runtime API)
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, body }))
}

fn serve(stream: TcpStream, hits: &Sender<Hit>, event: &str) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut invocations = 0u64;
    while let Some(request) = read_request(&mut reader)? {
        let now = Instant::now();
        let path = request.path.strip_prefix(API).unwrap_or(&request.path);
        if request.method == "GET" && path == "/invocation/next" {
            let _ = hits.send(Hit::Next(now));
            invocations += 1;
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or(0);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: coldstart-{invocations}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:coldstart\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                 content-length: {}\r\n\r\n{event}",
                event.len()
            )?;
        } else {
            let hit = if path.ends_with("/response") {
                Hit::Response(now)
            } else {
                Hit::Error(now, String::from_utf8_lossy(&request.body).into_owned())
            };
            let _ = hits.send(hit);
            writer.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")?;
        }
        writer.flush()?;
    }
    Ok(())
}

/// One cold start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Spawn → first `invocation/next`: Lambda's `Init Duration`.
    pub init: Duration,
    /// First `invocation/next` → its response: the first (warm-up) invocation.
    pub first_invoke: Duration,
    /// Peak resident memory after that invocation (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
}

/// Spawns `binary` with exactly `env` (plus `AWS_LAMBDA_RUNTIME_API`), waits for
/// its first `invocation/next` and the response to it, then kills it. An error
/// says what went wrong, with the process's stderr.
pub fn measure(
    binary: &Path,
    env: &[(String, String)],
    runtime: &FakeRuntime,
    timeout: Duration,
) -> Result<Sample, String> {
    runtime.drain();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let result = (|| {
        let next = match runtime.next_hit(timeout) {
            Some(Hit::Next(at)) => at,
            other => return Err(format!("expected invocation/next, got {other:?}")),
        };
        let response = match runtime.next_hit(timeout) {
            Some(Hit::Response(at)) => at,
            other => return Err(format!("expected a response, got {other:?}")),
        };
        Ok(Sample {
            init: next - started,
            first_invoke: response - next,
            peak_rss_kib: peak_rss_kib(child.id()),
        })
    })();
    let _ = child.kill();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    result.map_err(|e| {
        format!(
            "{}: {e}; stderr: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// `VmHWM` of process `pid` in KiB (Linux), `None` elsewhere.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `p`-th percentile (0–100) of `sorted` values, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The size of a `zip -9` archive holding `file` as `bootstrap`, as Lambda's
/// deployment package would (the `zip` command, else Python's zipfile); `None`
/// when neither is available.
pub fn zipped_size(file: &Path) -> Option<u64> {
    let dir = std::env::temp_dir().join(format!("coldstart-zip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let bootstrap = dir.join("bootstrap");
    let archive = dir.join("bootstrap.zip");
    std::fs::copy(file, &bootstrap).ok()?;
    let zipped = Command::new("zip")
        .args(["-9", "-q", "-X"])
        .arg(&archive)
        .arg("bootstrap")
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success())
        || Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n\
                 \x20   z.write(sys.argv[2], 'bootstrap')",
            ])
            .arg(&archive)
            .arg(&bootstrap)
            .status()
            .is_ok_and(|s| s.success());
    let size = zipped
        .then(|| std::fs::metadata(&archive).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_dir_all(&dir);
    size
}

/// The architecture of an ELF executable (`x86_64`, `arm64`), from `e_machine`.
pub fn elf_arch(file: &Path) -> Option<&'static str> {
    let mut header = [0u8; 20];
    std::fs::File::open(file)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    if &header[..4] != b"\x7fELF" {
        return None;
    }
    // e_machine, little-endian on both targets.
    match u16::from_le_bytes([header[18], header[19]]) {
        0x3e => Some("x86_64"),
        0xb7 => Some("arm64"),
        _ => Some("other"),
    }
}

/// Bytes as MiB with two decimals.
pub fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests_with_either_body_framing() {
        let raw = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n\
                   POST /2018-06-01/runtime/invocation/1/response HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}\
                   POST /2018-06-01/runtime/invocation/2/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                   3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let mut reader = BufReader::new(raw.as_bytes());
        let requests: Vec<Request> =
            std::iter::from_fn(|| read_request(&mut reader).unwrap()).collect();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/2018-06-01/runtime/invocation/next");
        assert!(requests[0].body.is_empty());
        assert_eq!(requests[1].body, b"{}");
        assert_eq!(requests[2].body, b"abcde");
    }

    #[test]
    fn fake_runtime_hands_out_an_event_and_notes_the_response() {
        let runtime = FakeRuntime::start(r#"{"warmup":true}"#).unwrap();
        let mut stream = TcpStream::connect(runtime.address()).unwrap();
        write!(
            stream,
            "GET {API}/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("content-length: ") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("lambda-runtime-aws-request-id: coldstart-1"));
        assert!(head.contains("lambda-runtime-deadline-ms: "));
        assert_eq!(body, br#"{"warmup":true}"#);
        assert!(matches!(
            runtime.next_hit(Duration::from_secs(5)),
            Some(Hit::Next(_))
        ));
        write!(
            stream,
            "POST {API}/invocation/coldstart-1/response HTTP/1.1\r\ncontent-length: 11\r\n\r\n{{\"ok\":true}}"
        )
        .unwrap();
        assert!(matches!(
            runtime.next_hit(Duration::from_secs(5)),
            Some(Hit::Response(_))
        ));
        assert_eq!(runtime.next_hit(Duration::from_millis(50)), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 5.0);
        assert_eq!(percentile(&v, 90.0), 9.0);
        assert_eq!(percentile(&v, 100.0), 10.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn elf_architecture_of_this_test() {
        let exe = std::env::current_exe().unwrap();
        let want = if cfg!(target_arch = "x86_64") {
            "x86_64"
        } else if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "other"
        };
        assert_eq!(elf_arch(&exe), Some(want));
        assert_eq!(elf_arch(Path::new("Cargo.toml")), None);
    }

    #[test]
    fn zips_smaller_than_the_file() {
        let exe = std::env::current_exe().unwrap();
        let size = std::fs::metadata(&exe).unwrap().len();
        let zipped = zipped_size(&exe).expect("zip or python3 is available");
        assert!(zipped > 0 && zipped < size, "{zipped} of {size}");
    }
}
