//! The mount plan as a table: each case a plan, the calls it must make
//! (in this order, others may come between) and the calls it must not,
//! run against the recording seam, without root.

use super::*;
use crate::config::{Mount, Plan};
use slipway_common::container::sys::Recorder;
use slipway_common::mount::MountInfo;

/// A plain container's plan, for tests to change.
pub(crate) fn plan() -> Plan {
    Plan {
        id: "t".into(),
        argv: vec!["sh".into()],
        env: vec![],
        cwd: "/work".into(),
        user: "0".into(),
        hostname: "h".into(),
        root: Root::Overlay {
            lowers_dir: "/s/layers".into(),
            lowers: vec!["l2".into(), "l1".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
        },
        mountpoint: "/c/rootfs".into(),
        mounts: vec![],
        etc: vec![("/etc/hosts".into(), "/c/hosts".into())],
        read_only: false,
        caps: Default::default(),
        privileged: false,
        seccomp: true,
        network: Network::Private,
        publish: vec![],
        interactive: false,
        tty: false,
        init: false,
        stop_timeout: 10,
        limits: Default::default(),
        rootless: false,
        masked: MASKED.iter().map(|s| s.to_string()).collect(),
        readonly: READ_ONLY.iter().map(|s| s.to_string()).collect(),
        extra_groups: vec![],
        group_add: vec![],
        rlimits: vec![],
        devices: vec![],
        exec_fifo: None,
        spec_privileges: None,
        sysctls: vec![],
        oom_score_adj: None,
        mounts_in_order: false,
        cgroupns: false,
        shm_size: None,
        rootfs_propagation: None,
        hooks: Default::default(),
        userns: None,
        join_namespaces: vec![],
        umask: None,
        spec_nodes: vec![],
        new_keyring: true,
        no_pivot: false,
        host_namespaces: 0,
        bridge: None,
    }
}

/// An image with what the masks look for.
fn image() -> Recorder {
    Recorder::new()
        .dirs(&["/proc/acpi", "/proc/sys"])
        .files(&["/proc/kcore"])
}

fn bind(target: &str, source: &str, read_only: bool, options: &str) -> Mount {
    Mount {
        target: target.into(),
        kind: MountKind::Bind {
            source: source.into(),
            read_only,
            recursive: true,
            options: options.into(),
        },
    }
}

fn tmpfs(target: &str, options: &str) -> Mount {
    Mount {
        target: target.into(),
        kind: MountKind::Tmpfs {
            options: options.into(),
        },
    }
}

struct Case {
    name: &'static str,
    plan: Plan,
    sys: Recorder,
    want: Vec<&'static str>,
    not: Vec<&'static str>,
}

const PIVOT: &[&str] = &[
    "chdir /c/rootfs",
    "pivot_root . .",
    "mount propagation on . flags=rec,slave",
    "umount . detach",
    "chdir /",
];

fn cases() -> Vec<Case> {
    let with = |f: &dyn Fn(&mut Plan)| {
        let mut p = plan();
        f(&mut p);
        p
    };
    let volume_dir = std::env::temp_dir().display().to_string();
    let vol: &'static str = Box::leak(volume_dir.into_boxed_str());
    vec![
        Case {
            name: "a default container",
            plan: plan(),
            sys: image(),
            want: vec![
                "mount propagation on / flags=rec,private",
                "chdir /s/layers",
                "mount overlay on /c/rootfs type=overlay flags=nodev data=lowerdir=l2:l1,upperdir=/c/upper,workdir=/c/work,index=off,redirect_dir=off,metacopy=off",
                "mount proc on /proc type=proc flags=nosuid,nodev,noexec",
                "mount tmpfs on /dev type=tmpfs flags=nosuid,nodev,strictatime data=mode=755,size=65536k",
                "mount the host's /dev/null on /dev/null flags=bind",
                "symlink /dev/fd -> /proc/self/fd",
                "mount devpts on /dev/pts type=devpts flags=nosuid,noexec data=newinstance,ptmxmode=0666,mode=0620,gid=5",
                "mount shm on /dev/shm type=tmpfs flags=nosuid,nodev,noexec data=mode=1777,size=65536k",
                "mount mqueue on /dev/mqueue type=mqueue flags=nosuid,nodev,noexec",
                "mount sysfs on /sys type=sysfs flags=ro,nosuid,nodev,noexec",
                "mount /c/hosts on /etc/hosts flags=bind",
                PIVOT[0],
                PIVOT[1],
                PIVOT[2],
                PIVOT[3],
                PIVOT[4],
                "mount tmpfs on /proc/acpi type=tmpfs flags=ro",
                "mount /dev/null on /proc/kcore flags=bind",
                "mount /proc/sys on /proc/sys flags=bind,rec",
                "mount remount on /proc/sys flags=remount,bind,rec,ro,nosuid,nodev,noexec",
            ],
            not: vec!["mknod", "cgroup2", "mount remount on / ", "chroot"],
        },
        Case {
            name: "privileged: nodes made, nothing masked, /sys writable",
            plan: with(&|p| p.privileged = true),
            sys: image(),
            want: vec![
                "mount overlay on /c/rootfs type=overlay data=",
                "mknod /dev/null c 1:3 666",
                "chmod /dev/null 666",
                "mount sysfs on /sys type=sysfs flags=nosuid,nodev,noexec",
            ],
            not: vec!["mount tmpfs on /proc/acpi", "on /proc/kcore", "flags=nodev data=lowerdir"],
        },
        Case {
            name: "a read-only root is remounted after pivot_root",
            plan: with(&|p| p.read_only = true),
            sys: image(),
            want: vec![PIVOT[1], "mount remount on / flags=remount,bind,ro"],
            not: vec![],
        },
        Case {
            name: "a read-only volume is read-only and nodev all the way down",
            plan: with(&|p| p.mounts = vec![bind("/data", vol, true, "")]),
            sys: image(),
            want: vec![
                "mount /c/hosts on /etc/hosts flags=bind",
                Box::leak(format!("mount {vol} on /data flags=bind,rec").into_boxed_str()),
                "mount remount on /data flags=remount,bind,ro,nodev",
                "mount_setattr /data attr=0x5 recursive",
                PIVOT[1],
            ],
            not: vec![],
        },
        Case {
            name: "a remount refused for a locked flag keeps the mount's own flags",
            plan: with(&|p| p.mounts = vec![bind("/data", vol, true, "")]),
            sys: image()
                .locked(libc::MS_NOSUID)
                .failing("mount remount on /data flags=remount,bind,ro,nodev", libc::EPERM),
            want: vec!["mount remount on /data flags=remount,bind,ro,nosuid,nodev"],
            not: vec!["mount remount on /data flags=remount,bind,ro,nodev"],
        },
        Case {
            name: "tmpfs options split into flags, data and a propagation",
            plan: with(&|p| p.mounts = vec![tmpfs("/t", "size=1m,noexec,rshared,mode=700")]),
            sys: image(),
            want: vec![
                "mount tmpfs on /t type=tmpfs flags=nodev,noexec data=size=1m,mode=700",
                "mount propagation on /t flags=rec,shared",
            ],
            not: vec![],
        },
        Case {
            name: "parents are mounted before children",
            plan: with(&|p| p.mounts = vec![tmpfs("/a/b", ""), tmpfs("/a", "")]),
            sys: image(),
            want: vec!["mount tmpfs on /a type=tmpfs", "mount tmpfs on /a/b type=tmpfs"],
            not: vec![],
        },
        Case {
            name: "a bundle's mounts keep the bundle's order",
            plan: with(&|p| {
                p.mounts = vec![tmpfs("/a/b", ""), tmpfs("/a", "")];
                p.mounts_in_order = true;
            }),
            sys: image(),
            want: vec!["mount tmpfs on /a/b type=tmpfs", "mount tmpfs on /a type=tmpfs"],
            not: vec![],
        },
        Case {
            name: "in the host's mount namespace: the root made private, chroot",
            plan: with(&|p| p.host_namespaces = libc::CLONE_NEWNS),
            sys: image(),
            want: vec![
                "mount overlay on /c/rootfs",
                "mount propagation on /c/rootfs flags=rec,private",
                "chdir /c/rootfs",
                "chroot .",
                "chdir /",
            ],
            not: vec!["pivot_root", "mount propagation on / flags=rec,private"],
        },
        Case {
            name: "--no-pivot detaches the host's proc, covers what it cannot, moves the root",
            plan: with(&|p| p.no_pivot = true),
            sys: image()
                .mounts(vec![
                    MountInfo {
                        root: "/".into(),
                        point: "/proc".into(),
                        fstype: "proc".into(),
                    },
                    MountInfo {
                        root: "/".into(),
                        point: "/sys".into(),
                        fstype: "sysfs".into(),
                    },
                ])
                .failing("umount /sys", libc::EINVAL),
            want: vec![
                "mount propagation on /proc flags=rec,slave",
                "umount /proc detach",
                "mount tmpfs on /sys type=tmpfs",
                "chdir /c/rootfs",
                "mount . on / flags=move",
                "chroot .",
            ],
            not: vec!["pivot_root"],
        },
        Case {
            name: "cgroup v2 gets its own cgroup2 mount",
            plan: plan(),
            sys: image().cgroup2(true),
            want: vec![
                "mount sysfs on /sys",
                "mount cgroup2 on /sys/fs/cgroup type=cgroup2 flags=ro,nosuid,nodev,noexec",
            ],
            not: vec![],
        },
        Case {
            name: "a host network namespace where sysfs is refused binds the host's",
            plan: with(&|p| p.network = Network::Host),
            sys: image().failing("mount sysfs on /sys", libc::EPERM),
            want: vec!["mount /sys on /sys flags=bind,rec"],
            not: vec![],
        },
        Case {
            name: "a directory root is bound, then made nodev",
            plan: with(&|p| p.root = Root::Bind("/img".into())),
            sys: image(),
            want: vec![
                "mount /img on /c/rootfs flags=bind,rec",
                "mount remount on /c/rootfs flags=remount,bind,nodev",
            ],
            not: vec!["overlay"],
        },
        Case {
            name: "sysctls are written before /proc/sys goes read-only",
            plan: with(&|p| p.sysctls = vec![("net.ipv4.ip_forward".into(), "1".into())]),
            sys: image(),
            want: vec![
                PIVOT[4],
                "write /proc/sys/net/ipv4/ip_forward \"1\"",
                "mount remount on /proc/sys",
            ],
            not: vec![],
        },
        Case {
            name: "a spec's device node is made with its owner and mode",
            plan: with(&|p| {
                p.spec_nodes = vec![crate::bundle::Node {
                    path: "/dev/fuse".into(),
                    kind: libc::S_IFCHR,
                    rdev: libc::makedev(10, 229),
                    mode: 0o640,
                    uid: 7,
                    gid: 8,
                }]
            }),
            sys: image(),
            want: vec![
                "mknod /dev/fuse c 10:229 640",
                "chown /dev/fuse 7:8",
                "chmod /dev/fuse 640",
            ],
            not: vec![],
        },
        Case {
            name: "a linux.rootfsPropagation is set on / after the pivot",
            plan: with(&|p| p.rootfs_propagation = Some(libc::MS_SLAVE | libc::MS_REC)),
            sys: image(),
            want: vec![PIVOT[4], "mount propagation on / flags=rec,slave"],
            not: vec![],
        },
    ]
}

#[test]
fn the_mount_plan_makes_each_case_s_calls_in_order() {
    for case in cases() {
        setup(&case.sys, &case.plan, || Ok(())).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let calls = case.sys.calls();
        let mut at = 0;
        for want in case.want {
            match calls[at..].iter().position(|c| c.starts_with(want)) {
                Some(i) => at += i + 1,
                None => panic!(
                    "{}: no {want:?} after call {at} in\n{}",
                    case.name,
                    calls.join("\n")
                ),
            }
        }
        for not in case.not {
            assert!(
                !calls.iter().any(|c| c.contains(not)),
                "{}: {not:?} in\n{}",
                case.name,
                calls.join("\n")
            );
        }
    }
}

#[test]
fn a_failed_call_is_named_with_its_path() {
    let sys = image().failing("mount proc on /proc", libc::EPERM);
    let e = setup(&sys, &plan(), || Ok(())).unwrap_err().to_string();
    assert_eq!(
        e,
        "mount proc on /proc: Operation not permitted (os error 1)"
    );
}

#[test]
fn a_mount_point_through_an_escaping_symlink_says_so() {
    // ELOOP from openat2 RESOLVE_IN_ROOT: a symlink that leads out of the
    // root through a magic link, or loops.
    let e = point_ctx::<()>("/t")(SysError::new(
        "create directory /t",
        io::Error::from_raw_os_error(libc::ELOOP),
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "create mount point /t: a symlink on its path leads out of the container's root, or loops"
    );
}
