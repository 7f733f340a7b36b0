//! io-pkt's `-p tcpip` option word (QNX's io-pkt takes the same keys).

use std::path::PathBuf;

use pktbox_drivers::{parse_subopts, SubOpt};

use crate::sys::Config;

fn num(o: &SubOpt, lo: u64, hi: u64) -> Result<u64, String> {
    let v = o.require_u64()?;
    if v < lo || v > hi {
        return Err(format!("{}={v}: out of range {lo}-{hi}", o.key));
    }
    Ok(v)
}

impl Config {
    /// Applies a `-p tcpip` option word. Options this build does not know are not errors
    /// (io-pkt reports them and goes on): they come back as warnings to show. An error is
    /// worded `tcpip: REASON`.
    pub fn tcpip_options(&mut self, word: &str) -> Result<Vec<String>, String> {
        let v = self.variant;
        let mut warnings = Vec::new();
        for o in parse_subopts(word).map_err(|e| format!("tcpip: {e}"))? {
            let r: Result<(), String> = match o.key.as_str() {
                "prefix" => {
                    let p = o.require_value()?;
                    if !p.starts_with('/') {
                        return Err(format!("tcpip: prefix={p}: must be an absolute path"));
                    }
                    self.prefix = PathBuf::from(p);
                    Ok(())
                }
                "forward" => {
                    self.forward = true;
                    Ok(())
                }
                "threads_min" => num(&o, 1, 4096).map(|n| self.threads_min = n as usize),
                "threads_max" => num(&o, 1, 4096).map(|n| self.threads_max = n as usize),
                "rx_prio" | "rx_pulse_prio" => num(&o, 1, 99).map(|n| self.rx_prio = Some(n as i32)),
                "forward6" if !v.has_inet6() => Err(v.lacks("IPv6")),
                "ipsec" if !v.has_ipsec() => Err(v.lacks("IPsec")),
                "forward6" | "ipsec" | "fastforward" | "somaxconn" | "timer_pulse_prio" | "mclbytes" | "pagesize"
                | "mbuf_cache" | "pkt_cache" => Err(format!("option \"{}\" is not supported by this build yet", o.key)),
                other => {
                    warnings.push(format!("tcpip: unrecognized option: \"{other}\""));
                    Ok(())
                }
            };
            r.map_err(|e| format!("tcpip: {e}"))?;
        }
        if self.threads_min > self.threads_max {
            return Err(format!(
                "tcpip: threads_min={} is above threads_max={}",
                self.threads_min, self.threads_max
            ));
        }
        Ok(warnings)
    }
}
