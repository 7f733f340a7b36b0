//! Layer 2 and interfaces: ifnet, Ethernet, ARP, BPF, the routing socket, interface control.

pub mod arp;
pub mod bpf;
pub mod bridgestp;
pub mod ether;
pub mod if_bridge;
pub mod if_control;
pub mod if_loop;
pub mod ifnet;
pub mod route;
pub mod route_socket;
