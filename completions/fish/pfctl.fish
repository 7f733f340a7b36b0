complete -c pfctl -s a -d 'Apply -f, -F, -s and -T to this anchor' -r
complete -c pfctl -s D -d 'Define a macro, overriding pf.conf' -r
complete -c pfctl -s F -d 'Flush rules, nat, states, tables, ...' -r
complete -c pfctl -s f -d 'Load the rules (or with -T, the addresses) of file; - is stdin' -r
complete -c pfctl -s i -d 'Restrict -s states, -F states and -k to an interface' -r
complete -c pfctl -s K -d 'Kill the source tracking nodes from host (a second -K: to host)' -r
complete -c pfctl -s k -d 'Kill the states from host (a second -k: to host)' -r
complete -c pfctl -s o -d 'Rule set optimization: only none' -r
complete -c pfctl -s p -d 'The pf device: only /dev/pf' -r
complete -c pfctl -s s -d 'Show rules, nat, states, info, ...' -r
complete -c pfctl -s t -d 'The table of a -T command' -r
complete -c pfctl -s T -d 'Table command: add, delete, show, test, ...' -r
complete -c pfctl -s x -d 'Debug level: none, urgent, misc, loud' -r
complete -c pfctl -l help -d 'Print help'
complete -c pfctl -s A -d 'Load only the queue rules of the file'
complete -c pfctl -s d -d 'Disable the packet filter'
complete -c pfctl -s e -d 'Enable the packet filter'
complete -c pfctl -s g -d 'Not supported: pfctl debugging output'
complete -c pfctl -s h -d 'Print the usage'
complete -c pfctl -s m -d 'Not supported: merge options into the running set'
complete -c pfctl -s N -d 'Load only the NAT rules of the file'
complete -c pfctl -s n -d 'Parse the file only; do not load it'
complete -c pfctl -s O -d 'Load only the options of the file'
complete -c pfctl -s q -d 'Print only errors and warnings'
complete -c pfctl -s R -d 'Load only the filter rules of the file'
complete -c pfctl -s r -d 'Not supported: reverse DNS lookups'
complete -c pfctl -s v -d 'More detail (-vv: even more)'
complete -c pfctl -s z -d 'Clear the per-rule counters'
complete -c pfctl -l json -d 'Print -s views as JSON'
