//! A runtime spec's linux.resources beyond what `docker run`'s flags say:
//! CPU shares, quota, period, realtime and cpuset; memory reservation,
//! swap, swappiness and the OOM killer; hugetlb limits. Written as given,
//! file by file, on whichever hierarchy the host has.

/// linux.resources, as the cgroup files take it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpecResources {
    #[serde(default)]
    pub cpu: Cpu,
    #[serde(default)]
    pub memory: Memory,
    /// (page size as the spec names it, `2MB`; limit in bytes)
    #[serde(default)]
    pub hugetlb: Vec<(String, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cpu {
    pub shares: Option<u64>,
    pub quota: Option<i64>,
    pub period: Option<u64>,
    pub realtime_runtime: Option<i64>,
    pub realtime_period: Option<u64>,
    pub cpus: Option<String>,
    pub mems: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    pub limit: Option<i64>,
    pub reservation: Option<i64>,
    /// Memory and swap together, as runc takes it.
    pub swap: Option<i64>,
    pub swappiness: Option<u64>,
    pub disable_oom_killer: bool,
    /// Kernel memory: v1 only, and kernels since 5.4 take the value but
    /// no longer enforce it (as runc, the file is written all the same).
    pub kernel: Option<i64>,
    pub kernel_tcp: Option<i64>,
}

/// One write: the controller (v1's hierarchy name), the file, the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.to_string(),
    }
}

impl SpecResources {
    /// What cgroup v1 is given, in the order that is valid from a new
    /// cgroup: a period before its quota, the limit before limit+swap.
    pub fn v1(&self) -> Vec<Write> {
        let c = &self.cpu;
        let m = &self.memory;
        let mut out = vec![];
        if let Some(v) = c.shares {
            out.push(w("cpu", "cpu.shares", v));
        }
        if let Some(v) = c.period {
            out.push(w("cpu", "cpu.cfs_period_us", v));
        }
        if let Some(v) = c.quota {
            out.push(w("cpu", "cpu.cfs_quota_us", v));
        }
        if let Some(v) = c.realtime_period {
            out.push(w("cpu", "cpu.rt_period_us", v));
        }
        if let Some(v) = c.realtime_runtime {
            out.push(w("cpu", "cpu.rt_runtime_us", v));
        }
        if let Some(v) = &c.cpus {
            out.push(w("cpuset", "cpuset.cpus", v));
        }
        if let Some(v) = &c.mems {
            out.push(w("cpuset", "cpuset.mems", v));
        }
        if let Some(v) = m.limit {
            out.push(w("memory", "memory.limit_in_bytes", v));
        }
        if let Some(v) = m.swap {
            out.push(w("memory", "memory.memsw.limit_in_bytes", v));
        }
        if let Some(v) = m.reservation {
            out.push(w("memory", "memory.soft_limit_in_bytes", v));
        }
        if let Some(v) = m.swappiness {
            out.push(w("memory", "memory.swappiness", v));
        }
        if m.disable_oom_killer {
            out.push(w("memory", "memory.oom_control", 1));
        }
        if let Some(v) = m.kernel {
            out.push(w("memory", "memory.kmem.limit_in_bytes", v));
        }
        if let Some(v) = m.kernel_tcp {
            out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", v));
        }
        for (size, limit) in &self.hugetlb {
            out.push(w(
                "hugetlb",
                format!("hugetlb.{size}.limit_in_bytes"),
                limit,
            ));
        }
        out
    }

    /// What cgroup v2 is given: its files for the same settings, as runc
    /// converts them (shares to a weight, quota and period to cpu.max).
    pub fn v2(&self) -> Result<Vec<Write>, String> {
        let c = &self.cpu;
        let m = &self.memory;
        let mut out = vec![];
        if let Some(s) = c.shares {
            // runc's ConvertCPUSharesToCgroupV2Value.
            let weight = if s == 0 {
                0
            } else {
                1 + (s.max(2) - 2) * 9999 / 262_142
            };
            out.push(w("cpu", "cpu.weight", weight));
        }
        if c.quota.is_some() || c.period.is_some() {
            let quota = match c.quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            out.push(w(
                "cpu",
                "cpu.max",
                format!("{quota} {}", c.period.unwrap_or(100_000)),
            ));
        }
        if c.realtime_period.is_some() || c.realtime_runtime.is_some() {
            return Err("linux.resources.cpu realtime settings on cgroup v2".into());
        }
        if let Some(v) = &c.cpus {
            out.push(w("cpuset", "cpuset.cpus", v));
        }
        if let Some(v) = &c.mems {
            out.push(w("cpuset", "cpuset.mems", v));
        }
        let max = |v: i64| {
            if v < 0 {
                "max".to_string()
            } else {
                v.to_string()
            }
        };
        if let Some(v) = m.limit {
            out.push(w("memory", "memory.max", max(v)));
        }
        if let Some(v) = m.swap {
            // v2 limits swap alone: limit+swap less the limit.
            let swap = match (v, m.limit) {
                (v, _) if v < 0 => "max".to_string(),
                (v, Some(l)) if l > 0 => (v - l).max(0).to_string(),
                (v, _) => v.to_string(),
            };
            out.push(w("memory", "memory.swap.max", swap));
        }
        if let Some(v) = m.reservation {
            out.push(w("memory", "memory.low", max(v)));
        }
        if m.swappiness.is_some() {
            return Err("linux.resources.memory.swappiness on cgroup v2".into());
        }
        if m.disable_oom_killer {
            return Err("linux.resources.memory.disableOOMKiller on cgroup v2".into());
        }
        if m.kernel.is_some() || m.kernel_tcp.is_some() {
            return Err("linux.resources.memory kernel limits on cgroup v2".into());
        }
        for (size, limit) in &self.hugetlb {
            out.push(w("hugetlb", format!("hugetlb.{size}.max"), limit));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SpecResources {
        SpecResources {
            cpu: Cpu {
                shares: Some(1024),
                quota: Some(50_000),
                period: Some(100_000),
                cpus: Some("0".into()),
                ..Cpu::default()
            },
            memory: Memory {
                limit: Some(1 << 20),
                swap: Some(2 << 20),
                ..Memory::default()
            },
            hugetlb: vec![("2MB".into(), 1 << 30)],
        }
    }

    #[test]
    fn v1_writes_each_setting_to_its_file_period_before_quota() {
        let files: Vec<String> = spec()
            .v1()
            .iter()
            .map(|x| format!("{}/{}={}", x.controller, x.file, x.value))
            .collect();
        assert_eq!(
            files,
            [
                "cpu/cpu.shares=1024",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=50000",
                "cpuset/cpuset.cpus=0",
                "memory/memory.limit_in_bytes=1048576",
                "memory/memory.memsw.limit_in_bytes=2097152",
                "hugetlb/hugetlb.2MB.limit_in_bytes=1073741824",
            ]
        );
    }

    #[test]
    fn v2_converts_shares_to_a_weight_and_swap_to_swap_alone() {
        let v2 = spec().v2().unwrap();
        let get = |f: &str| v2.iter().find(|x| x.file == f).map(|x| x.value.clone());
        assert_eq!(get("cpu.weight").as_deref(), Some("39"));
        assert_eq!(get("cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(get("memory.swap.max").as_deref(), Some("1048576"));
        assert_eq!(get("hugetlb.2MB.max").as_deref(), Some("1073741824"));
        let mut s = spec();
        s.memory.swappiness = Some(10);
        assert!(s.v2().unwrap_err().contains("swappiness"));
    }
}
