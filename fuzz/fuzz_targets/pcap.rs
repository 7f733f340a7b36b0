//! tcpdump's pcap file reader: any file either reads or is refused with an error, and no
//! record asks for more memory than its own length allows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pktbox_fuzz::pcap::Reader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = Reader::new(std::io::Cursor::new(data)) else {
        return;
    };
    let mut left = data.len();
    while let Ok(Some(rec)) = r.next_record() {
        assert!(rec.data.len() <= left, "a record is no longer than the file");
        left -= rec.data.len();
    }
});
