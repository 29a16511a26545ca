//! Cold start of `trigger`, `extract` and `load`, measured locally, and the size
//! of what Lambda gets: `cargo bench -p backflow-coldstart`.
//!
//! 1. Builds the release binaries (`cargo build --release -p backflow-trigger -p
//!    backflow-extract -p backflow-load`; `COLDSTART_BUILD=0` takes those already
//!    in the target dir).
//! 2. Per function, `COLDSTART_RUNS` (default 20) cold starts after one discarded
//!    start (which only warms the page cache): the binary is spawned with the
//!    environment Lambda and `infra/template.yaml` give it (`BACKFLOW_*`,
//!    `AWS_REGION`, session credentials, `AWS_LAMBDA_*`) and nothing else, against
//!    a fake Runtime API (`backflow_coldstart::FakeRuntime`). Init duration =
//!    spawn → first `GET …/invocation/next`, which is what Lambda reports as
//!    `Init Duration`. Each start is then handed the functions' warm-up event
//!    (`{"warmup": true}`), whose handling is the first-invoke column. Nothing
//!    reaches AWS: the functions build their SDK clients at init without a call.
//! 3. Sizes: the stripped binary and `zip -9` of it as `bootstrap`, plus any
//!    `cargo lambda build` artifacts found in `<target dir>/lambda/<name>/bootstrap`
//!    (e.g. after `cargo lambda build --release --arm64`).
//!
//! Prints a markdown report and writes it to `benchmarks/coldstart.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use backflow_coldstart::{elf_arch, measure, mib, percentile, zipped_size, FakeRuntime, Sample};

/// (package, binary, MB in infra/template.yaml's defaults)
const FUNCTIONS: [(&str, &str, u32); 3] = [
    ("backflow-trigger", "trigger", 256),
    ("backflow-extract", "extract", 1024),
    ("backflow-load", "load", 512),
];

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let runs: usize = std::env::var("COLDSTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20);
    let machine = machine();
    // Read when the bench runs (cargo sets it): a build reused from another
    // checkout through a shared target dir must measure this checkout.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let root = Path::new(&manifest).join("../..");
    let target = target_dir();

    if std::env::var("COLDSTART_BUILD").as_deref() != Ok("0") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(&root)
            .args(["build", "--release", "--quiet"]);
        for (package, _, _) in FUNCTIONS {
            build.args(["-p", package]);
        }
        eprintln!("coldstart: cargo build --release (the three functions)");
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build --release failed");
    }

    let runtime = FakeRuntime::start(r#"{"warmup": true}"#).expect("fake runtime listens");
    let timeout = Duration::from_secs(20);
    let mut rows = Vec::new();
    for (_, name, memory) in FUNCTIONS {
        let binary = target.join("release").join(name);
        assert!(
            binary.exists(),
            "{} is missing (build it, or unset COLDSTART_BUILD=0)",
            binary.display()
        );
        let env = lambda_env(name, memory);
        eprintln!("coldstart: {name}: 1 + {runs} starts");
        measure(&binary, &env, &runtime, timeout).unwrap_or_else(|e| panic!("{e}"));
        let samples: Vec<Sample> = (0..runs)
            .map(|_| measure(&binary, &env, &runtime, timeout).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        rows.push((name, binary, samples));
    }

    let report = render(&rows, runs, &target, &machine);
    print!("{report}");
    let out = root.join("benchmarks");
    std::fs::create_dir_all(&out).expect("benchmarks/ can be created");
    std::fs::write(out.join("coldstart.md"), &report).expect("benchmarks/coldstart.md is writable");
    eprintln!("coldstart: wrote benchmarks/coldstart.md");
}

/// The target dir this bench was built in: `<target>/release/deps/coldstart-…`.
fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("own path");
    exe.ancestors()
        .nth(3)
        .expect("<target>/release/deps/<bench>")
        .to_path_buf()
}

/// What Lambda and `infra/template.yaml` put in a function's environment.
fn lambda_env(name: &str, memory: u32) -> Vec<(String, String)> {
    let pairs = [
        (
            "BACKFLOW_CONFIG",
            "s3://backflow-coldstart/config/backflow.yaml",
        ),
        ("BACKFLOW_STATE_TABLE", "backflow-state"),
        ("BACKFLOW_RUNS_TABLE", "backflow-runs"),
        ("BACKFLOW_BUCKET", "backflow-coldstart"),
        ("BACKFLOW_EXTRACT_FUNCTION", "backflow-extract"),
        ("BACKFLOW_LOAD_FUNCTION", "backflow-load"),
        ("BACKFLOW_RUN_DEADLINE_SECS", "900"),
        ("RUST_LOG", "info"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "ASIACOLDSTART"),
        ("AWS_SECRET_ACCESS_KEY", "coldstart-secret"),
        ("AWS_SESSION_TOKEN", "coldstart-token"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart"),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]coldstart",
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ];
    let mut env: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push((
        "AWS_LAMBDA_FUNCTION_NAME".into(),
        format!("backflow-{name}"),
    ));
    env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), memory.to_string()));
    env
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn render(
    rows: &[(&str, PathBuf, Vec<Sample>)],
    runs: usize,
    target: &Path,
    machine: &str,
) -> String {
    let mut out = String::new();
    out.push_str("# Cold start and artifact size\n\n");
    out.push_str(&format!(
        "Measured by `cargo bench -p backflow-coldstart` (tests/coldstart) on {}; \
         {runs} cold starts per function after one discarded. **Init** = spawn of the \
         release binary → its first `GET /2018-06-01/runtime/invocation/next` on a \
         local fake Runtime API (what Lambda reports as `Init Duration`); \
         **first invoke** = handling the warm-up event `{{\"warmup\": true}}`; \
         **peak RSS** = `VmHWM` after it (Lambda's `Max Memory Used`). No AWS call is \
         made at init (the SDK clients are built, not used).\n\n",
        machine
    ));
    out.push_str(
        "| function | init median (ms) | init p90 (ms) | init min–max (ms) | first invoke median (ms) | peak RSS (MiB) | binary (MiB) | zip -9 (MiB) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, binary, samples) in rows {
        let init = sorted(samples.iter().map(|s| ms(s.init)).collect());
        let invoke = sorted(samples.iter().map(|s| ms(s.first_invoke)).collect());
        let rss = samples.iter().filter_map(|s| s.peak_rss_kib).max();
        let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
        out.push_str(&format!(
            "| {name} | {:.1} | {:.1} | {:.1}–{:.1} | {:.2} | {} | {} | {} |\n",
            percentile(&init, 50.0),
            percentile(&init, 90.0),
            init.first().copied().unwrap_or(0.0),
            init.last().copied().unwrap_or(0.0),
            percentile(&invoke, 50.0),
            rss.map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
            mib(size),
            zipped_size(binary).map(mib).unwrap_or_else(|| "n/a".into()),
        ));
    }

    let lambda: Vec<(&str, PathBuf)> = rows
        .iter()
        .map(|(name, _, _)| (*name, target.join("lambda").join(name).join("bootstrap")))
        .filter(|(_, p)| p.exists())
        .collect();
    out.push_str("\n## cargo lambda artifacts\n\n");
    if lambda.is_empty() {
        out.push_str(
            "None found in `<target dir>/lambda/<name>/bootstrap`; run \
             `cargo lambda build --release --arm64 -p backflow-trigger -p backflow-extract \
             -p backflow-load` (zig from PyPI's ziglang, which cargo-lambda brings) and \
             this bench again.\n",
        );
    } else {
        out.push_str(
            "As `sam build` / `cargo lambda build --release --arm64` produce them (sizes \
             only: an arm64 binary does not run here).\n\n\
             | function | arch | bootstrap (MiB) | zip -9 (MiB) |\n|---|---|---:|---:|\n",
        );
        for (name, path) in lambda {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            out.push_str(&format!(
                "| {name} | {} | {} | {} |\n",
                elf_arch(&path).unwrap_or("?"),
                mib(size),
                zipped_size(&path).map(mib).unwrap_or_else(|| "n/a".into()),
            ));
        }
    }
    out.push_str(
        "\nA local process start is not a Firecracker microVM: read these as the \
         binaries' own share of a cold start (loading, TLS roots, SDK config, runtime \
         setup), to compare builds, not as the figure Lambda will bill. Lambda adds its \
         sandbox setup and gives CPU in proportion to memory \
         (shared/docs/aws-serverless.md §1).\n",
    );
    out
}

/// CPU, cores, load and toolchain, for the report's first line.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}, {cpu} ({cores} cores, load average {load} at the start), {rustc}")
}
