//! The soak driver of `bench/soak.sh` (not a test; nothing depends on it).
//!
//! Open-loop load on `POST /oauth/token` at a constant RATE per second for DURATION seconds by
//! CONNS senders (sender i sends at start + (k·CONNS + i)/RATE, so a slow answer makes the
//! schedule late rather than the rate lower, and the lateness is reported),
//! plus a churn loop at CHURN per second: create a key, get a token with it, revoke it, and check
//! its secret is now refused (`401 invalid_client`, "revoked": the expected denial). Every 10 s
//! it samples the server's RSS, open file descriptors, threads and CPU time from /proc into a CSV
//! row; at the end it prints a summary and writes it as JSON.
//!
//!   soak --url http://127.0.0.1:18090 --pid PID --admin lk_… \
//!        --key-id key_… --key-secret lk_… [--rate 8000] [--duration 600] [--conns 64] \
//!        [--churn 5] [--check-revoked 1] [--sample 10] [--csv out.csv] [--json out.json]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    url: String,
    pid: u32,
    admin: String,
    key_id: String,
    key_secret: String,
    rate: f64,
    duration: f64,
    conns: usize,
    churn: f64,
    /// Whether the churn loop checks the revoked secret is refused (1, default) or skips it (0).
    check_revoked: bool,
    sample: f64,
    csv: String,
    json: String,
}

fn args() -> anyhow::Result<Args> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let name = k
            .strip_prefix("--")
            .ok_or_else(|| anyhow::anyhow!("unexpected argument {k}"))?;
        let v = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("--{name} needs a value"))?;
        m.insert(name.to_owned(), v);
    }
    let mut take = |k: &str, default: Option<&str>| -> anyhow::Result<String> {
        m.remove(k)
            .or(default.map(str::to_owned))
            .ok_or_else(|| anyhow::anyhow!("--{k} is required"))
    };
    let a = Args {
        url: take("url", None)?,
        pid: take("pid", None)?.parse()?,
        admin: take("admin", None)?,
        key_id: take("key-id", None)?,
        key_secret: take("key-secret", None)?,
        rate: take("rate", Some("8000"))?.parse()?,
        duration: take("duration", Some("600"))?.parse()?,
        conns: take("conns", Some("64"))?.parse()?,
        churn: take("churn", Some("5"))?.parse()?,
        check_revoked: take("check-revoked", Some("1"))? != "0",
        sample: take("sample", Some("10"))?.parse()?,
        csv: take("csv", Some("soak.csv"))?,
        json: take("json", Some("soak.json"))?,
    };
    if let Some(k) = m.keys().next() {
        anyhow::bail!("unknown option --{k}");
    }
    Ok(a)
}

/// Latency histogram: 100 µs buckets up to 1 s, then one overflow bucket.
const BUCKETS: usize = 10_001;

#[derive(Default)]
struct Stats {
    /// "what status" → count, e.g. "token 200", "churn.token_revoked 401".
    statuses: Mutex<BTreeMap<String, u64>>,
    token_ok: AtomicU64,
    sent: AtomicU64,
    unexpected: AtomicU64,
    unexpected_samples: Mutex<Vec<String>>,
    latency: Mutex<Vec<u64>>,
    /// Worst lateness against the schedule, in µs.
    max_late_us: AtomicU64,
    late_sum_us: AtomicU64,
}

impl Stats {
    fn count(&self, what: &str, status: u16) {
        *self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(format!("{what} {status}"))
            .or_default() += 1;
    }

    fn unexpected(&self, msg: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        let mut s = self
            .unexpected_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if s.len() < 20 {
            s.push(msg);
        }
    }
}

/// One connection's share of the token load.
async fn tokens(
    a: Arc<Args>,
    http: reqwest::Client,
    stats: Arc<Stats>,
    i: usize,
    start: tokio::time::Instant,
) {
    let interval = a.conns as f64 / a.rate;
    let end = start + Duration::from_secs_f64(a.duration);
    let url = format!("{}/oauth/token", a.url);
    let mut hist = vec![0u64; BUCKETS];
    let mut k = 0u64;
    loop {
        let due =
            start + Duration::from_secs_f64((k as f64 + i as f64 / a.conns as f64) * interval);
        if due >= end {
            break;
        }
        k += 1;
        let now = tokio::time::Instant::now();
        if due > now {
            tokio::time::sleep_until(due).await;
        } else {
            let late = (now - due).as_micros() as u64;
            stats.late_sum_us.fetch_add(late, Ordering::Relaxed);
            stats.max_late_us.fetch_max(late, Ordering::Relaxed);
        }
        stats.sent.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let r = http
            .post(&url)
            .basic_auth(&a.key_id, Some(&a.key_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "read")])
            .send()
            .await;
        match r {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.bytes().await;
                let us = sent.elapsed().as_micros() as usize;
                hist[(us / 100).min(BUCKETS - 1)] += 1;
                if status == 200 && body.is_ok() {
                    stats.token_ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    stats.count("token", status);
                    stats.unexpected(format!("token: {status} {body:?}"));
                }
            }
            Err(e) => stats.unexpected(format!("token: {e}")),
        }
    }
    let mut total = stats.latency.lock().unwrap_or_else(|e| e.into_inner());
    for (t, h) in total.iter_mut().zip(hist) {
        *t += h;
    }
}

async fn expect(
    stats: &Stats,
    what: &str,
    r: Result<reqwest::Response, reqwest::Error>,
    want: u16,
) -> Option<Value> {
    match r {
        Ok(r) => {
            let status = r.status().as_u16();
            stats.count(what, status);
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if status == want {
                Some(body)
            } else {
                stats.unexpected(format!("{what}: {status} {body}"));
                None
            }
        }
        Err(e) => {
            stats.unexpected(format!("{what}: {e}"));
            None
        }
    }
}

/// Create → token → revoke → the revoked secret refused, CHURN times a second.
async fn churn(a: Arc<Args>, http: reqwest::Client, stats: Arc<Stats>) -> u64 {
    if a.churn <= 0.0 {
        return 0;
    }
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs_f64(a.duration);
    let mut cycles = 0u64;
    loop {
        let due = start + Duration::from_secs_f64(cycles as f64 / a.churn);
        if due >= end {
            return cycles;
        }
        tokio::time::sleep_until(due).await;
        cycles += 1;
        let r = http
            .post(format!("{}/v1/keys", a.url))
            .bearer_auth(&a.admin)
            .json(&json!({"name": format!("churn {cycles}"),
                          "scopes": [{"action": "read", "resource": "*"}]}))
            .send()
            .await;
        let Some(created) = expect(&stats, "churn.create", r, 201).await else {
            continue;
        };
        let (Some(id), Some(secret)) = (created["key"]["id"].as_str(), created["secret"].as_str())
        else {
            stats.unexpected(format!("churn.create: {created}"));
            continue;
        };
        let token = |label: &'static str, want: u16| {
            let (http, stats) = (http.clone(), stats.clone());
            let (url, id, secret) = (
                format!("{}/oauth/token", a.url),
                id.to_owned(),
                secret.to_owned(),
            );
            async move {
                let r = http
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                expect(&stats, label, r, want).await
            }
        };
        token("churn.token", 200).await;
        let r = http
            .delete(format!("{}/v1/keys/{id}", a.url))
            .bearer_auth(&a.admin)
            .send()
            .await;
        expect(&stats, "churn.revoke", r, 200).await;
        if !a.check_revoked {
            continue;
        }
        if let Some(body) = token("churn.token_revoked", 401).await {
            let why = body["error_description"].as_str().unwrap_or_default();
            if body["error"] != "invalid_client" || !why.contains("revoked") {
                stats.unexpected(format!("churn.token_revoked: {body}"));
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    t: f64,
    rss_kb: u64,
    /// Heap and stacks: what a leak grows. The rest of RSS is file-backed (the binary, and the
    /// SQLite file mapped with `mmap_size`, which grows with the database).
    anon_kb: u64,
    fds: u64,
    threads: u64,
    cpu_s: f64,
    requests: u64,
}

fn sample_proc(pid: u32, t: f64, requests: u64) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
    // utime and stime: fields 14 and 15, counted after the ")" that ends the command name.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(Sample {
        t,
        rss_kb: field("VmRSS:"),
        anon_kb: field("RssAnon:"),
        fds,
        threads: field("Threads:"),
        // USER_HZ is 100 on Linux.
        cpu_s: ticks / 100.0,
        requests,
    })
}

fn percentile(hist: &[u64], p: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    let want = (total as f64 * p).ceil() as u64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want.max(1) {
            return (i as f64 + 1.0) * 0.1;
        }
    }
    f64::NAN
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Arc::new(args()?);
    let stats = Arc::new(Stats {
        latency: Mutex::new(vec![0; BUCKETS]),
        ..Stats::default()
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.conns + 8)
        .timeout(Duration::from_secs(10))
        .build()?;

    let begin = Instant::now();
    let driver_start = sample_proc(std::process::id(), 0.0, 0)?;
    let mut samples = vec![sample_proc(a.pid, 0.0, 0)?];
    let mut csv =
        String::from("t_s,rss_kb,rss_anon_kb,fds,threads,server_cpu_s,requests,rate_per_s\n");
    let row = |s: &Sample, rate: f64| {
        format!(
            "{:.0},{},{},{},{},{:.2},{},{:.0}\n",
            s.t, s.rss_kb, s.anon_kb, s.fds, s.threads, s.cpu_s, s.requests, rate
        )
    };
    csv.push_str(&row(&samples[0], 0.0));
    println!(
        "t=0s rss={} kB (anon {} kB) fds={} threads={} (idle)",
        samples[0].rss_kb, samples[0].anon_kb, samples[0].fds, samples[0].threads
    );

    let start = tokio::time::Instant::now();
    let mut load = Vec::new();
    for i in 0..a.conns {
        load.push(tokio::spawn(tokens(
            a.clone(),
            http.clone(),
            stats.clone(),
            i,
            start,
        )));
    }
    let churner = tokio::spawn(churn(a.clone(), http.clone(), stats.clone()));

    let mut tick = 1u64;
    loop {
        let due = start + Duration::from_secs_f64(tick as f64 * a.sample);
        if (tick as f64) * a.sample > a.duration + 0.5 {
            break;
        }
        tokio::time::sleep_until(due).await;
        let t = begin.elapsed().as_secs_f64();
        let requests = stats.sent.load(Ordering::Relaxed);
        let s = sample_proc(a.pid, t, requests)?;
        let prev = *samples.last().unwrap_or(&s);
        let rate = (s.requests - prev.requests) as f64 / (s.t - prev.t).max(1e-9);
        let cpu = (s.cpu_s - prev.cpu_s) / (s.t - prev.t).max(1e-9);
        println!(
            "t={:.0}s rss={} kB (anon {} kB) fds={} threads={} rate={rate:.0}/s server_cpu={:.0}% \
             unexpected={}",
            s.t,
            s.rss_kb,
            s.anon_kb,
            s.fds,
            s.threads,
            cpu * 100.0,
            stats.unexpected.load(Ordering::Relaxed)
        );
        csv.push_str(&row(&s, rate));
        samples.push(s);
        tick += 1;
    }
    for l in load {
        l.await?;
    }
    let cycles = churner.await?;
    let elapsed = start.elapsed().as_secs_f64();
    let driver_end = sample_proc(std::process::id(), elapsed, 0)?;
    std::fs::write(&a.csv, &csv)?;

    let hist = stats
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let sent = stats.sent.load(Ordering::Relaxed);
    let mut statuses = stats
        .statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    statuses.insert("token 200".into(), stats.token_ok.load(Ordering::Relaxed));
    let loaded: Vec<&Sample> = samples.iter().skip(1).collect();
    let (first, last) = (loaded.first().copied(), loaded.last().copied());
    let max_rss = samples.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let max_anon = samples.iter().map(|s| s.anon_kb).max().unwrap_or(0);
    let max_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let server_cpu = match (samples.first(), last) {
        (Some(f), Some(l)) => (l.cpu_s - f.cpu_s) / (l.t - f.t).max(1e-9),
        _ => f64::NAN,
    };
    let summary = json!({
        "target_rate_per_s": a.rate,
        "duration_s": a.duration,
        "conns": a.conns,
        "churn_per_s": a.churn,
        "elapsed_s": elapsed,
        "token_requests": sent,
        "achieved_token_rate_per_s": sent as f64 / elapsed,
        "mean_late_ms":
            stats.late_sum_us.load(Ordering::Relaxed) as f64 / sent.max(1) as f64 / 1000.0,
        "max_late_ms": stats.max_late_us.load(Ordering::Relaxed) as f64 / 1000.0,
        "token_latency_ms": {
            "p50": percentile(&hist, 0.50), "p90": percentile(&hist, 0.90),
            "p99": percentile(&hist, 0.99), "p999": percentile(&hist, 0.999),
        },
        "churn_cycles": cycles,
        "statuses": statuses,
        "unexpected": stats.unexpected.load(Ordering::Relaxed),
        "unexpected_samples": *stats.unexpected_samples.lock().unwrap_or_else(|e| e.into_inner()),
        "rss_kb": {
            "idle": samples[0].rss_kb,
            "start": first.map(|s| s.rss_kb), "end": last.map(|s| s.rss_kb), "max": max_rss,
        },
        "rss_anon_kb": {
            "idle": samples[0].anon_kb,
            "start": first.map(|s| s.anon_kb), "end": last.map(|s| s.anon_kb), "max": max_anon,
        },
        "fds": {
            "idle": samples[0].fds,
            "start": first.map(|s| s.fds), "end": last.map(|s| s.fds), "max": max_fds,
        },
        "threads": {"start": first.map(|s| s.threads), "end": last.map(|s| s.threads)},
        "server_cpu_cores": server_cpu,
        "driver_cpu_cores": (driver_end.cpu_s - driver_start.cpu_s) / elapsed.max(1e-9),
        "csv": a.csv,
    });
    std::fs::write(&a.json, serde_json::to_string_pretty(&summary)?)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
