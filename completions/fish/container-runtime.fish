# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_container_runtime_global_optspecs
    string join \n root= log= log-format= systemd-cgroup debug h/help V/version
end

function __fish_container_runtime_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_container_runtime_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_container_runtime_using_subcommand
    set -l cmd (__fish_container_runtime_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c container-runtime -n "__fish_container_runtime_needs_command" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_needs_command" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_needs_command" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_needs_command" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -s V -l version -d 'Print version'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "create" -d 'Set up a container from a bundle; its process waits for `start`'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "start" -d 'Let a created container\'s process run'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "state" -d 'Print a container\'s state as runtime-spec JSON'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "kill" -d 'Send a signal (default SIGTERM) to a container\'s process'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "delete" -d 'Remove a stopped (or, with --force, any) container'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "run" -d 'Create and start a container and wait for it (its status is ours)'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "list" -d 'List the containers'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "ps" -d 'List the processes of a container (host PIDs)'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "spec" -d 'Write a default config.json into the bundle directory'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "features" -d 'Print what this runtime supports (runtime-spec features.json)'
complete -c container-runtime -n "__fish_container_runtime_needs_command" -f -a "exec" -d 'Run another process in a created or running container'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -s b -l bundle -d 'The bundle: config.json and the root it names' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l pid-file -d 'Write the container\'s PID here' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l console-socket -d 'With process.terminal: send the terminal\'s master to this socket' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l preserve-fds -d 'Pass on this many descriptors after stderr (3 to 3+N-1)' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l no-pivot -d 'Enter the root by moving it over / and chroot, not pivot_root (for a root on the initramfs; weaker: the host\'s mounts stay beneath)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l no-new-keyring -d 'Keep the caller\'s session keyring rather than join a new one'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand create" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand start" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand start" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand start" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand start" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand start" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand start" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand state" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand state" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand state" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand state" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand state" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand state" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -s a -l all -d 'Every process of the container, not only its first'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand kill" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -s f -l force -d 'Kill a container that still runs'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand delete" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -s b -l bundle -d 'The bundle: config.json and the root it names' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l pid-file -d 'Write the container\'s PID here' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l console-socket -d 'With process.terminal: send the terminal\'s master to this socket' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l preserve-fds -d 'Pass on this many descriptors after stderr (3 to 3+N-1)' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l no-pivot -d 'Enter the root by moving it over / and chroot, not pivot_root (for a root on the initramfs; weaker: the host\'s mounts stay beneath)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l no-new-keyring -d 'Keep the caller\'s session keyring rather than join a new one'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -s d -l detach -d 'Create and start the container, and return: it runs on, for `state`, `kill` and `delete`'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand run" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -s f -l format -d 'table or json' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -s q -l quiet -d 'Only the IDs'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand list" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -s f -l format -d 'table or json' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand ps" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -s b -l bundle -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand spec" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand features" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand features" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand features" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand features" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand features" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand features" -s h -l help -d 'Print help'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s p -l process -d 'The process as runtime-spec JSON (what engines pass); the command line\'s options then do not apply' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l pid-file -d 'Write the process\'s PID here' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l console-socket -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l cwd -d 'The working directory (default: the container\'s)' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s e -l env -d 'Set an environment variable over the container\'s (KEY=VALUE)' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s u -l user -d 'UID[:GID] (default: the container\'s)' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s g -l additional-gids -d 'Additional groups' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s c -l cap -d 'Add a capability to the container\'s sets' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l preserve-fds -d 'Pass on this many descriptors after stderr (3 to 3+N-1)' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s a -l apparmor -d 'Not supported: there is no AppArmor here' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s l -l process-label -d 'Not supported: there is no SELinux here' -r
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l root -d 'Where container state is kept (runc\'s --root)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l log -d 'Also write errors to FILE (engines read it)' -r -F
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l log-format -d 'The --log format: text or json (one JSON object a line, as runc)' -r -f -a "text\t''
json\t''"
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s d -l detach -d 'Start the process and return; it is left to our caller to reap'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s t -l tty -d 'A terminal for the process, its master sent to --console-socket'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l no-new-privs
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l systemd-cgroup -d 'Accepted for runc\'s callers; cgroups are managed through cgroupfs, not systemd units, either way'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -l debug -d 'Also log each command line and how it ended, at level debug (to --log, else stderr)'
complete -c container-runtime -n "__fish_container_runtime_using_subcommand exec" -s h -l help -d 'Print help'
