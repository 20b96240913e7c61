//! The server process as /proc shows it: found by its command line, its memory and CPU time.

/// The `vinr dev` process listening on the URL's port (by its command line), if on this machine.
pub fn find_server(url: &str) -> Option<u32> {
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_dev = args.iter().any(|a| *a == b"dev");
        let listens = args.windows(2).any(|w| w[0] == b"--listen" && w[1] == addr.as_bytes());
        (is_dev && listens).then_some(pid)
    })
}

/// (RSS in MiB, CPU seconds) of a process.
pub fn proc_usage(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks;
    Some((rss_kb / 1024.0, cpu))
}
