complete -c pktbox -l install -d 'Make a symlink to pktbox in DIR for each applet' -r
complete -c pktbox -l list -d 'List the applets, one a line'
complete -c pktbox -l force -d 'With --install, replace files that are not pktbox symlinks'
complete -c pktbox -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pktbox -s V -l version -d 'Print version'
