complete -c container-run -l rootfs -d 'Run this directory as the root filesystem instead of an image (with --upper, as the lower layer of an overlay)' -r -F
complete -c container-run -l bundle -d 'Run an OCI runtime bundle: DIR/config.json (runtime-spec) and the root it names, as runc run does; no image or command is given' -r -F
complete -c container-run -l runtime -d 'Run the container with another OCI runtime (runc, crun, or a path) through a runtime bundle, as podman --runtime does: the image, its layers, the overlay, the user and Docker\'s security settings are prepared here, the process is the runtime\'s. Not with -d, -t, -i, --init or --secret-env' -r -F
complete -c container-run -l start -d 'Start a created or exited container again, with the arguments it was made with (what `container-ctl start` runs): in the background, printing its ID, or with --attach in the foreground. Its writable layer is kept' -r
complete -c container-run -l upper -d 'Keep the container\'s writable layer (the overlayfs upper dir) in DIR, for `layer-diff --upper DIR`' -r -F
complete -c container-run -l name -d 'A name for the container (default: none; container-ctl also takes the ID)' -r
complete -c container-run -l stop-timeout -d 'When container-run is sent SIGTERM, it passes it on and gives the container this many seconds to exit before it is killed (SIGKILL), as docker stop does: a PID 1 that ignores SIGTERM cannot outlive it' -r
complete -c container-run -l stop-signal -d 'The signal container-ctl stop sends first (a name as SIGUSR1 or USR1, or a number); default: the image\'s STOPSIGNAL, else SIGTERM' -r
complete -c container-run -s e -l env -d 'Set an environment variable (KEY=VALUE, or KEY to pass ours on)' -r
complete -c container-run -l secret-env -d 'Pass the variable NAME from our own environment, as -e NAME does, but keep it out of the container\'s record (its state file, and container-ctl inspect and exec): for a secret. Not with --runtime' -r
complete -c container-run -l env-file -d 'Read environment variables from a file, one KEY[=VALUE] per line' -r -F
complete -c container-run -s w -l workdir -d 'The working directory inside the container (created if missing)' -r
complete -c container-run -s u -l user -d 'The user: NAME|UID[:GROUP|GID], names from the image\'s /etc/passwd and /etc/group' -r
complete -c container-run -l entrypoint -d 'Override the image\'s entrypoint ("" for none); the image\'s cmd is then not used either' -r
complete -c container-run -s h -l hostname -d 'The container\'s hostname (default: the first 12 digits of its ID)' -r
complete -c container-run -l restart -d 'When the monitor of a detached container starts it again after it ends: no (the default), on-failure[:N] (a non-zero exit, at most N times), always or unless-stopped (until a container-ctl stop or kill). There is no daemon: after a reboot (or a kill of its monitor), `container-ctl start --all --filter restart-policy=always` starts them again (slipway-restart.service runs it at boot, once enabled)' -r
complete -c container-run -l log-driver -d 'Where a detached container\'s output goes: json-file (its log, read by container-ctl logs; the default) or none' -r
complete -c container-run -l log-opt -d 'A log option, KEY=VALUE: max-size (rotate the log when it reaches this size: 10m, 512k) and max-file (files kept, with max-size)' -r
complete -c container-run -l health-cmd -d 'A command that checks the container\'s health, run by /bin/sh -c in it every --health-interval (instead of the image\'s HEALTHCHECK); exit 0 is healthy' -r
complete -c container-run -l health-interval -d 'Time between checks (30s)' -r
complete -c container-run -l health-timeout -d 'How long one check may run (30s)' -r
complete -c container-run -l health-start-period -d 'Time to start in, when failed checks do not count (0s)' -r
complete -c container-run -l health-start-interval -d 'Time between checks in the start period until one passes (5s)' -r
complete -c container-run -l health-retries -d 'Failures in a row that make it unhealthy (3)' -r
complete -c container-run -l pid -d 'The PID namespace: private (its own, the default), host, or container:NAME (another running container\'s)' -r
complete -c container-run -l ipc -d 'The IPC namespace: private or shareable (its own, the default), host, or container:NAME' -r
complete -c container-run -l uts -d 'The UTS namespace (hostname): private (the default) or host' -r
complete -c container-run -l userns -d 'The user namespace: host, the only mode here (root\'s containers run in the host\'s, rootless ones in the user\'s)' -r
complete -c container-run -l ulimit -d 'A resource limit for the container\'s processes: NAME=SOFT[:HARD] (nofile, nproc, core, memlock, stack, ...; -1 is unlimited; repeatable)' -r
complete -c container-run -l sysctl -d 'A sysctl of the container\'s own namespaces: its network\'s (net.*), IPC (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) or UTS (kernel.domainname) (repeatable)' -r
complete -c container-run -s l -l label -d 'Set a label on the container, over the image\'s (repeatable; KEY alone sets it empty). `docker inspect` shows them in Config.Labels' -r
complete -c container-run -l cidfile -d 'Write the container\'s ID to FILE, which must not exist' -r -F
complete -c container-run -l add-host -d 'Add HOST with address IP to the container\'s /etc/hosts (repeatable; HOST=IP too; host-gateway is the host as the container reaches it)' -r
complete -c container-run -l dns -d 'The container\'s DNS server, instead of the host\'s (repeatable)' -r
complete -c container-run -l dns-search -d 'The container\'s DNS search domains, instead of the host\'s (repeatable)' -r
complete -c container-run -l dns-option -d 'Resolver options for the container\'s /etc/resolv.conf, instead of the host\'s (repeatable; ndots:2, edns0, ...)' -r
complete -c container-run -s v -l volume -d 'Bind mount HOST-PATH at CONTAINER-PATH; a NAME instead of a path is a named volume kept in the store' -r
complete -c container-run -l tmpfs -d 'Mount a tmpfs at PATH, with mount options such as size=64m,mode=1777' -r
complete -c container-run -l group-add -d 'An additional group for the container\'s process: a GID or a name in the container\'s /etc/group (repeatable)' -r
complete -c container-run -l shm-size -d 'The size of /dev/shm (64m unless given; b, k, m or g)' -r
complete -c container-run -l mount -d 'A mount in docker\'s key=value form: type=bind,source=PATH,target=PATH; type=volume,source=NAME,target=PATH; type=tmpfs,target=PATH with tmpfs-size and tmpfs-mode; readonly for any (repeatable)' -r
complete -c container-run -l network -l net -d 'private (the default; bridge means it too): its own namespace with outbound access through slirp4netns; none: only loopback; host: the host\'s namespace; container:NAME: another running container\'s; or a network\'s name (`container-ctl network create`): on its bridge, where the other containers\' names resolve' -r
complete -c container-run -l network-alias -l net-alias -d 'Another name the container answers to on its network (repeatable)' -r
complete -c container-run -l ip -d 'Its IPv4 address on its network (default: the first free one)' -r
complete -c container-run -l mac-address -d 'Its MAC address on its network (default: 02:42 and its address)' -r
complete -c container-run -s p -l publish -d 'Publish a container port on the host (--network private); with no HOST port, a random free one (`container-ctl port` shows it)' -r
complete -c container-run -s m -l memory -d 'Memory limit (bytes, or with a k, m or g suffix)' -r
complete -c container-run -l pids-limit -d 'Limit on the number of processes' -r
complete -c container-run -l cpus -d 'CPU limit, in CPUs (1.5 is one and a half)' -r
complete -c container-run -l cap-add -d 'Add a capability to Docker\'s default set (ALL for all)' -r
complete -c container-run -l cap-drop -d 'Drop a capability from Docker\'s default set (ALL for all)' -r
complete -c container-run -l device -d 'Give the container a host device: HOST[:CONTAINER[:PERMS]], PERMS of r, w and m (default rwm), as docker run --device (repeatable)' -r
complete -c container-run -l security-opt -d 'seccomp=unconfined (no seccomp filter) or no-new-privileges (the default here)' -r
complete -c container-run -l platform -d 'The platform to select from a multi-platform image' -r
complete -c container-run -l pull -d 'Pull the image from its registry (with image-pull) before running: missing (when the store lacks it), always, or never' -r -f -a "missing\t'Only when the store lacks the image'
always\t'Every time, so the tag\'s newest image runs'
never\t'Never: an image the store lacks is an error'"
complete -c container-run -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-run -l create -d 'Create the container (its record, name and writable layer) and print its ID without starting it, as docker create does: `container-ctl start` starts it'
complete -c container-run -l attach -d 'With --start: stay in the foreground with the container\'s output (and with -i its input), its exit status ours, as docker start -a'
complete -c container-run -l rm -d 'Remove the container when it exits'
complete -c container-run -s d -l detach -d 'Run in the background: print the container\'s ID and return; its output goes to a log (container-ctl logs)'
complete -c container-run -s t -l tty -d 'Give the container a terminal (a pty of its own devpts); ours goes to raw mode while it runs'
complete -c container-run -l init -d 'Run a small init as PID 1 that forwards signals to the command and reaps zombies, as docker run --init does'
complete -c container-run -s i -l interactive -d 'Keep stdin open for the container (default: /dev/null): ours, or with -d a FIFO that `container-ctl attach` writes to'
complete -c container-run -l no-healthcheck -d 'Run no health check, not even the image\'s'
complete -c container-run -l read-only -d 'Mount the root filesystem read-only'
complete -c container-run -s P -l publish-all -d 'Publish every port the image EXPOSEs on a random host port'
complete -c container-run -l privileged -d 'Give the container every capability, no seccomp filter and no masked paths, writable /sys and /proc/sys'
complete -c container-run -l help -d 'Print help'
complete -c container-run -s V -l version -d 'Print version'
