complete -c sysctl -s f -d 'Read names (or name=value lines) from file; - is standard input' -r
complete -c sysctl -s a -d 'List every name and its value'
complete -c sysctl -s n -d 'Print values only, not names'
complete -c sysctl -s e -d 'Print name=value instead of name = value'
complete -c sysctl -s q -d 'Print nothing when setting values'
complete -c sysctl -s w -d 'Set the values given as name=value'
complete -c sysctl -l json -d 'Print the values as JSON'
complete -c sysctl -s h -l help -d 'Print help'
