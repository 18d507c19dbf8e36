//! BIPF decoding: any bytes either decode or are rejected, and whatever decodes
//! re-encodes to bytes that decode to the same encoding again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyssb::wire::bipf;

fuzz_target!(|data: &[u8]| {
    let _ = bipf::frame(data);
    if let Ok((v, used)) = bipf::decode_prefix(data) {
        assert!(used <= data.len());
        let enc = bipf::encode(&v);
        assert_eq!(bipf::encoded_len(&v), enc.len());
        // Compare encodings, not values: a decoded NaN is not equal to itself.
        let again = bipf::decode(&enc).expect("an encoded value decodes");
        assert_eq!(bipf::encode(&again), enc);
    }
    let _ = bipf::decode(data);
});
