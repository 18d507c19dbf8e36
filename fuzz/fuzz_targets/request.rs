//! WANT and CHNK request bodies: arbitrary bytes decode or are rejected, and a decoded
//! vector survives its own encoding unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyssb::wire::request::{ChnkVector, RequestVector, WantVector, MAX_BODY};

fuzz_target!(|data: &[u8]| {
    if let Ok(want) = WantVector::decode(data) {
        let body = want.encode();
        assert_eq!(body.len(), want.encoded_len());
        assert_eq!(WantVector::decode(&body).as_ref(), Ok(&want));
        for i in 0..want.seqs.len() {
            let _ = want.feed_index(i, 1 + data.len() % 255);
        }
        let mut v = WantVector::new(want.offset);
        for s in &want.seqs {
            if !v.try_push(*s) {
                break;
            }
        }
        assert!(v.encoded_len() <= MAX_BODY);
    }
    if let Ok(chnk) = ChnkVector::decode(data) {
        let body = chnk.encode();
        assert_eq!(ChnkVector::decode(&body).as_ref(), Ok(&chnk));
        let v = ChnkVector::fitting(chnk.requests.iter().copied());
        assert!(v.encoded_len() <= MAX_BODY);
    }
});
