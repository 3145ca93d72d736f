# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_container_ctl_global_optspecs
    string join \n store= h/help V/version
end

function __fish_container_ctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_container_ctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_container_ctl_using_subcommand
    set -l cmd (__fish_container_ctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c container-ctl -n "__fish_container_ctl_needs_command" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -s V -l version -d 'Print version'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "ps" -d 'List containers, as `docker ps` does (running ones unless -a)'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "stop" -d 'Stop containers: the stop signal (the image\'s STOPSIGNAL, or container-run --stop-signal; SIGTERM when neither says) to the first process, then after the timeout SIGKILL to every process of the container'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "start" -d 'Start created or exited containers again (container-run makes each from the arguments that made it, over its writable layer); prints each name, or with -a stays attached'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "attach" -d 'Join a running detached container: its output from now on, our input if it was run with -i, its exit status ours when it ends'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "kill" -d 'Send a signal to the first process of running containers'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "rm" -d 'Remove containers: their state and writable layer (not a directory given to container-run --upper)'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "logs" -d 'Print the output of a container started with container-run -d: its stdout to stdout, its stderr to stderr'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "inspect" -d 'Show containers as a JSON array of docker-like documents'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "exec" -d 'Run a command in a running container: in its namespaces and cgroup, as its user (or -u), with its environment, capabilities and seccomp filter. Exits with the command\'s status; 126 when it cannot be run, 127 when it is not found'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "commit" -d 'Make an image of a container\'s changes: its writable layer on top of its image (by layer-diff --upper and image-assemble). Prints the new image\'s manifest digest'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "wait" -d 'Wait until containers end, then print each one\'s exit code'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "pause" -d 'Freeze every process of running containers (the cgroup freezer), as docker pause'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "unpause" -d 'Thaw paused containers'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "rename" -d 'Give a container another name'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "port" -d 'The ports a container publishes on the host: all, or where one port (PORT[/PROTO]) is published'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "top" -d 'A running container\'s processes: the host\'s ps (with the options given, default -ef), its lines for the container\'s processes'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "stats" -d 'What running containers use: CPU, memory, network and block I/O, PIDs; a new table every second unless --no-stream'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "diff" -d 'What a container changed in its filesystem: A added, C changed, D deleted, against its image'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "cp" -d 'Copy files between a container and the host: CONTAINER:SRC DEST, SRC CONTAINER:DEST, and - for a tar stream on either side'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "prune" -d 'Remove every stopped container, as docker container prune'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "volume" -d 'Named volumes: create, ls, inspect, rm, prune'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "network" -d 'Bridge networks: create, ls, inspect, rm, prune, connect, disconnect'
complete -c container-ctl -n "__fish_container_ctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -l format -d 'A Go-style template per container: {{.ID}}, {{.Image}}, {{.Command}}, {{.CreatedAt}}, {{.RunningFor}}, {{.Status}}, {{.State}}, {{.Ports}}, {{.Names}}, {{.Labels}}, {{json .}}; a leading "table " prints a header' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -s f -l filter -d 'Only containers that match, as docker\'s filters: id=, name= (a substring), label=KEY[=VALUE], status=created|running|paused| exited, exited=CODE, ancestor=IMAGE, health=starting|healthy| unhealthy|none. Repeated keys of one kind match any; different kinds must all match' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -s n -l last -d 'The N containers created last, whatever their state (as -a)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -s a -l all -d 'Show all containers (default: running ones)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -s q -l quiet -d 'Only container IDs'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -l no-trunc -d 'Do not truncate IDs and commands'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -l json -d 'One JSON object per line, with full IDs and commands: ID, Image, Command, CreatedAt, RunningFor, State, Status, Names, ExitCode, Pid'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -s l -l latest -d 'The container created last, whatever its state'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -l all-stores -d 'The containers of every store containers were made in on this host since it booted, with a STORE column'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand ps" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stop" -s t -l time -l timeout -d 'Seconds to wait for the container to exit before killing it (negative: wait for ever). Default: container-run\'s --stop-timeout (10)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stop" -s s -l signal -d 'The signal to send first, instead of the container\'s own' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stop" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stop" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand start" -l filter -d 'With --all: as ps --filter (restart-policy=always, label=K=V, ...)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand start" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand start" -s a -l attach -d 'Stay attached to its output, its exit status ours (one container)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand start" -s i -l interactive -d 'With -a: give it our input too (if it was made with -i)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand start" -l all -d 'Every stopped container (that --filter selects): after a reboot, `start --all --filter restart-policy=always` brings back what docker\'s daemon would (slipway-restart.service runs it at boot)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand start" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand attach" -l sig-proxy -d 'Pass the signals we get (INT, TERM, HUP, QUIT, USR1, USR2) on to the container\'s first process' -r -f -a "true\t''
false\t''"
complete -c container-ctl -n "__fish_container_ctl_using_subcommand attach" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand attach" -l no-stdin -d 'Do not give it our input'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand attach" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand kill" -s s -l signal -d 'The signal: a name (KILL, SIGTERM, RTMIN+1) or a number' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand kill" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand kill" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand rm" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand rm" -s f -l force -d 'Kill a running container first'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand rm" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -s n -l tail -d 'Only the last N lines ("all" for every line)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -l since -d 'Only lines written since this time: RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or a duration before now (10m, 1h30m)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -l until -d 'Only lines written before this time (the same forms as --since)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -s f -l follow -d 'Keep printing new output until the container exits'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -s t -l timestamps -d 'Prefix each line with the time it was written (RFC 3339)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand logs" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand inspect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s e -l env -d 'Set an environment variable (KEY=VALUE, or KEY to pass ours on)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s w -l workdir -d 'The working directory inside the container (default: the container\'s)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s u -l user -d 'The user: NAME|UID[:GROUP|GID], names from the container\'s /etc/passwd and /etc/group (default: the container\'s user)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s i -l interactive -d 'Keep stdin open for the command (default: /dev/null)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s t -l tty -d 'Give the command a terminal (a pty of the container\'s own devpts); ours goes to raw mode while it runs, as docker exec -t'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s d -l detach -d 'Start the command and return at once; its output is discarded, as docker exec -d'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand exec" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand commit" -s m -l message -d 'The history text of the new layer (default: the container\'s command, as docker\'s created_by)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand commit" -s a -l author -d 'The image author' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand commit" -s c -l change -d 'A Dockerfile instruction to apply to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand commit" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand commit" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand wait" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand wait" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand pause" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand pause" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand unpause" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand unpause" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand rename" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand rename" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand port" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand port" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand top" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand top" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stats" -l format -d 'A Go-style template per container: {{.Container}}, {{.ID}}, {{.Name}}, {{.CPUPerc}}, {{.MemUsage}}, {{.MemPerc}}, {{.NetIO}}, {{.BlockIO}}, {{.PIDs}}, {{json .}}; a leading "table " prints a header' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stats" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stats" -s a -l all -d 'Show all containers (default: running ones)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stats" -l no-stream -d 'Print one sample (over one second) and exit, instead of a new table every second'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stats" -l no-trunc -d 'Do not truncate IDs'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand stats" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand diff" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand diff" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand cp" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand cp" -s a -l archive -d 'Archive mode: keep the files\' owners (default: the container\'s root owns what goes in, the caller what comes out) and their extended attributes'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand cp" -s L -l follow-link -d 'Follow a symlink that SRC names (its parents are always followed, inside the container\'s root)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand cp" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand prune" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand prune" -s f -l force -d 'Do not ask (prune never asks)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand prune" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -f -a "create" -d 'Make a volume (a random name when none is given); an existing one is left as it is. Prints its name'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -f -a "ls" -d 'List volumes'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -f -a "inspect" -d 'Show volumes as a JSON array, as docker volume inspect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -f -a "rm" -d 'Remove volumes no container names (remove the containers first)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -f -a "prune" -d 'Remove the volumes no container names, with --all (every volume slipway makes is named: without it, as docker\'s prune of anonymous volumes, there is nothing to remove)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and not __fish_seen_subcommand_from create ls inspect rm prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from create" -l label -d 'A label, KEY=VALUE (repeatable)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from create" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from ls" -s f -l filter -d 'name=SUBSTRING, label=KEY[=VALUE], dangling=true|false (no container names it)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from ls" -l format -d 'A Go-style template per volume: {{.Name}}, {{.Driver}}, {{.Mountpoint}}, {{.Labels}}, {{.CreatedAt}}, {{json .}}' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from ls" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'Only names'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from inspect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from rm" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from prune" -l filter -d 'label=KEY[=VALUE]: only volumes with that label' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from prune" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from prune" -s a -l all -d 'Every unused volume'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from prune" -s f -l force -d 'Do not ask (prune never asks)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "create" -d 'Make a volume (a random name when none is given); an existing one is left as it is. Prints its name'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List volumes'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Show volumes as a JSON array, as docker volume inspect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove volumes no container names (remove the containers first)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove the volumes no container names, with --all (every volume slipway makes is named: without it, as docker\'s prune of anonymous volumes, there is nothing to remove)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand volume; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "create" -d 'Make a bridge network; prints its ID'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "ls" -d 'List networks'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "inspect" -d 'Show networks as a JSON array, as docker network inspect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "rm" -d 'Remove networks no running container is on'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "prune" -d 'Remove every network no running container is on'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "connect" -d 'Put a running container on another network too (a new interface, eth1 and on)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "disconnect" -d 'Take a container off a network'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and not __fish_seen_subcommand_from create ls inspect rm prune connect disconnect help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -l subnet -d 'The subnet, an IPv4 CIDR (default: the first free 10.89.N.0/24)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -l gateway -d 'The gateway (default: the subnet\'s first address)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -s d -l driver -d 'bridge, the only driver here' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -l label -d 'A label, KEY=VALUE (repeatable)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -l internal -d 'No way out: containers reach each other only'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from ls" -s f -l filter -d 'name=SUBSTRING, id=PREFIX, label=KEY[=VALUE], driver=bridge' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from ls" -l format -d 'A Go-style template per network: {{.ID}}, {{.Name}}, {{.Driver}}, {{.Scope}}, {{.Internal}}, {{.Labels}}, {{.CreatedAt}}, {{json .}}' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from ls" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'Only IDs'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from ls" -l no-trunc -d 'Whole IDs'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from inspect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from rm" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from prune" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from prune" -s f -l force -d 'Do not ask (prune never asks)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from connect" -l alias -d 'Another name it answers to on that network (repeatable)' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from connect" -l ip -d 'Its address there' -r
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from connect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from connect" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from disconnect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from disconnect" -s f -l force -d 'Accepted for docker\'s sake: it always is'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from disconnect" -s h -l help -d 'Print help'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "create" -d 'Make a bridge network; prints its ID'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List networks'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Show networks as a JSON array, as docker network inspect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove networks no running container is on'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove every network no running container is on'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "connect" -d 'Put a running container on another network too (a new interface, eth1 and on)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "disconnect" -d 'Take a container off a network'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand network; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "ps" -d 'List containers, as `docker ps` does (running ones unless -a)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "stop" -d 'Stop containers: the stop signal (the image\'s STOPSIGNAL, or container-run --stop-signal; SIGTERM when neither says) to the first process, then after the timeout SIGKILL to every process of the container'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "start" -d 'Start created or exited containers again (container-run makes each from the arguments that made it, over its writable layer); prints each name, or with -a stays attached'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "attach" -d 'Join a running detached container: its output from now on, our input if it was run with -i, its exit status ours when it ends'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "kill" -d 'Send a signal to the first process of running containers'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "rm" -d 'Remove containers: their state and writable layer (not a directory given to container-run --upper)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "logs" -d 'Print the output of a container started with container-run -d: its stdout to stdout, its stderr to stderr'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "inspect" -d 'Show containers as a JSON array of docker-like documents'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "exec" -d 'Run a command in a running container: in its namespaces and cgroup, as its user (or -u), with its environment, capabilities and seccomp filter. Exits with the command\'s status; 126 when it cannot be run, 127 when it is not found'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "commit" -d 'Make an image of a container\'s changes: its writable layer on top of its image (by layer-diff --upper and image-assemble). Prints the new image\'s manifest digest'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "wait" -d 'Wait until containers end, then print each one\'s exit code'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "pause" -d 'Freeze every process of running containers (the cgroup freezer), as docker pause'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "unpause" -d 'Thaw paused containers'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "rename" -d 'Give a container another name'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "port" -d 'The ports a container publishes on the host: all, or where one port (PORT[/PROTO]) is published'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "top" -d 'A running container\'s processes: the host\'s ps (with the options given, default -ef), its lines for the container\'s processes'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "stats" -d 'What running containers use: CPU, memory, network and block I/O, PIDs; a new table every second unless --no-stream'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "diff" -d 'What a container changed in its filesystem: A added, C changed, D deleted, against its image'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "cp" -d 'Copy files between a container and the host: CONTAINER:SRC DEST, SRC CONTAINER:DEST, and - for a tar stream on either side'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "prune" -d 'Remove every stopped container, as docker container prune'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "volume" -d 'Named volumes: create, ls, inspect, rm, prune'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "network" -d 'Bridge networks: create, ls, inspect, rm, prune, connect, disconnect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and not __fish_seen_subcommand_from ps stop start attach kill rm logs inspect exec commit wait pause unpause rename port top stats diff cp prune volume network help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "create" -d 'Make a volume (a random name when none is given); an existing one is left as it is. Prints its name'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "ls" -d 'List volumes'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "inspect" -d 'Show volumes as a JSON array, as docker volume inspect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "rm" -d 'Remove volumes no container names (remove the containers first)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from volume" -f -a "prune" -d 'Remove the volumes no container names, with --all (every volume slipway makes is named: without it, as docker\'s prune of anonymous volumes, there is nothing to remove)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "create" -d 'Make a bridge network; prints its ID'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "ls" -d 'List networks'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "inspect" -d 'Show networks as a JSON array, as docker network inspect'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "rm" -d 'Remove networks no running container is on'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "prune" -d 'Remove every network no running container is on'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "connect" -d 'Put a running container on another network too (a new interface, eth1 and on)'
complete -c container-ctl -n "__fish_container_ctl_using_subcommand help; and __fish_seen_subcommand_from network" -f -a "disconnect" -d 'Take a container off a network'
