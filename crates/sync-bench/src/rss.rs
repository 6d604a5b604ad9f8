//! Server memory from `/proc/<pid>/status`: point readings and a sampler thread that
//! tracks the peak resident set while a scenario runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context};

/// Resident set size and its high-water mark, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReading {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Reads VmRSS and VmHWM of `pid`.
pub fn read_memory(pid: u32) -> anyhow::Result<MemoryReading> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&text).ok_or_else(|| anyhow!("{path} has no VmRSS/VmHWM"))
}

fn parse_status(text: &str) -> Option<MemoryReading> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(MemoryReading {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// CPU time (user + system) `pid` has used so far, from `/proc/<pid>/stat`.
pub fn read_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu_ticks(&text)
        .map(|ticks| ticks as f64 / CLOCK_TICKS_PER_SEC)
        .ok_or_else(|| anyhow!("{path} has no utime/stime"))
}

/// `USER_HZ`: the unit of `/proc/<pid>/stat` times, 100 on every Linux ABI in use.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// utime + stime (fields 14 and 15), counted after the `(comm)` field, which may
/// contain spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resets the kernel's peak-RSS counter of `pid` (writes 5 to `clear_refs`), so VmHWM
/// afterwards is the peak since now. Best effort: needs the right to write that file.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Samples VmRSS every `interval` on its own thread until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<SampleSummary>,
}

/// What a sampler saw.
#[derive(Debug, Clone, Copy)]
pub struct SampleSummary {
    pub samples: u64,
    pub first_kib: u64,
    pub peak_kib: u64,
    pub last_kib: u64,
}

impl RssSampler {
    pub fn start(pid: u32, interval: Duration) -> anyhow::Result<Self> {
        let first = read_memory(pid)?.rss_kib;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let mut s = SampleSummary {
                    samples: 1,
                    first_kib: first,
                    peak_kib: first,
                    last_kib: first,
                };
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    if let Ok(m) = read_memory(pid) {
                        s.samples += 1;
                        s.peak_kib = s.peak_kib.max(m.rss_kib);
                        s.last_kib = m.rss_kib;
                    }
                }
                s
            })
            .context("spawning the RSS sampler")?;
        Ok(Self { stop, handle })
    }

    pub fn finish(self) -> anyhow::Result<SampleSummary> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| anyhow!("the RSS sampler panicked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(
            parse_status(text),
            Some(MemoryReading {
                rss_kib: 1024,
                hwm_kib: 2048
            })
        );
        assert_eq!(parse_status("Name: x\n"), None);
    }

    #[test]
    fn parses_cpu_ticks_after_comm() {
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert!(read_cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }

    #[test]
    fn samples_this_process() {
        let sampler = RssSampler::start(std::process::id(), Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let s = sampler.finish().unwrap();
        assert!(s.samples >= 2, "{s:?}");
        assert!(s.peak_kib >= s.first_kib && s.first_kib > 0, "{s:?}");
    }
}
