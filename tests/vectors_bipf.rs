//! Known-answer tests for BIPF (tests/vectors/bipf.json) and the request layer
//! (the WANT/CHNK DMX values and WANT packets of tests/vectors/goset.json,
//! the request packets of tests/vectors/serve.json).

use serde_json::Value as Json;
use tinyssb::ids::{from_hex, to_hex};
use tinyssb::wire::bipf::{self, Value};
use tinyssb::wire::request::{chnk_dmx, want_dmx, ChnkVector, ChunkRequest, RequestVector, WantVector};
use tinyssb::wire::PFX;
use tinyssb::{Dmx, Seq};

fn load(name: &str) -> Json {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(j: &Json) -> Vec<u8> {
    from_hex(j.as_str().unwrap()).unwrap()
}

/// Converts the vectors' typed notation (`{"int": n}`, `{"list": [..]}`, ..) into a [`Value`].
fn typed(j: &Json) -> Value {
    let obj = j.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{j}");
    let (kind, v) = obj.iter().next().unwrap();
    match kind.as_str() {
        "int" => Value::Int(v.as_i64().unwrap()),
        "bytes" => Value::Bytes(hex(v)),
        "str" => Value::Str(v.as_str().unwrap().to_owned()),
        "none" => Value::None,
        "bool" => Value::Bool(v.as_bool().unwrap()),
        "double" => Value::Double(v.as_f64().unwrap()),
        "list" => Value::List(v.as_array().unwrap().iter().map(typed).collect()),
        "dict" => {
            Value::Dict(v.as_array().unwrap().iter().map(|pair| (typed(&pair[0]), typed(&pair[1]))).collect())
        }
        other => panic!("unknown type {other}"),
    }
}

fn u32s(j: &Json) -> Vec<u32> {
    j.as_array().unwrap().iter().map(|x| u32::try_from(x.as_u64().unwrap()).unwrap()).collect()
}

fn check_value(value: &Value, encoding: &[u8]) {
    assert_eq!(bipf::encode(value), encoding, "encode {value:?}");
    assert_eq!(bipf::encoded_len(value), encoding.len());
    assert_eq!(bipf::decode_prefix(encoding), Ok((value.clone(), encoding.len())));
}

#[test]
fn values() {
    let v = load("bipf.json");
    let cases = v["values"].as_array().unwrap();
    assert_eq!(cases.len(), 30);
    for case in cases {
        check_value(&typed(&case["value"]), &hex(&case["bipf"]));
    }
}

#[test]
fn want_vectors() {
    let v = load("bipf.json");
    for case in v["want_vectors"].as_array().unwrap() {
        let nums = u32s(&case["vector"]);
        let encoding = hex(&case["bipf"]);
        let want = WantVector { offset: nums[0], seqs: nums[1..].iter().map(|&s| Seq(s)).collect() };
        assert_eq!(want.encode(), encoding);
        assert_eq!(want.encoded_len(), encoding.len());
        assert_eq!(WantVector::decode(&encoding), Ok(want.clone()));
        assert_eq!(WantVector::fitting(want.offset, want.seqs.iter().copied()), want);
        let generic = Value::List(nums.iter().map(|&n| Value::Int(n.into())).collect());
        check_value(&generic, &encoding);
    }
}

#[test]
fn chnk_vectors() {
    let v = load("bipf.json");
    for case in v["chnk_vectors"].as_array().unwrap() {
        let requests: Vec<_> = case["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let t = u32s(t);
                ChunkRequest { feed_index: t[0], seq: Seq(t[1]), chunk: t[2] }
            })
            .collect();
        let chnk = ChnkVector { requests };
        let encoding = hex(&case["bipf"]);
        assert_eq!(chnk.encode(), encoding);
        assert_eq!(chnk.encoded_len(), encoding.len());
        assert_eq!(ChnkVector::decode(&encoding), Ok(chnk.clone()));
        assert_eq!(ChnkVector::fitting(chnk.requests.iter().copied()), chnk);
    }
}

#[test]
fn frontier_states() {
    let v = load("bipf.json");
    let cases = v["frontier_states"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let state = typed(&case["state"]);
        check_value(&state, &hex(&case["bipf"]));
        // The plain rendering agrees with the typed one on the scalar fields.
        let plain = &case["state_plain"];
        for key in ["max_seq", "max_pos"] {
            assert_eq!(state.get(key).and_then(Value::as_int), plain[key].as_i64());
        }
        assert_eq!(state.get("prev").and_then(Value::as_bytes), Some(&hex(&plain["prev"])[..]));
        let pend = state.get("pend_sc").and_then(Value::as_dict).unwrap();
        assert_eq!(pend.len(), plain["pend_sc"].as_object().unwrap().len());
    }
}

#[test]
fn decode_notes() {
    let v = load("bipf.json");
    for case in v["decode_notes"].as_array().unwrap() {
        assert_eq!(bipf::decode(&hex(&case["bipf"])), Ok(typed(&case["decodes_to"])), "{}", case["note"]);
    }
}

#[test]
fn request_dmx_and_want_adv() {
    let v = load("goset.json");
    let states = v["states"].as_array().unwrap();
    assert_eq!(states.len(), 5);
    for s in states {
        let mut state = [0u8; 32];
        let keys = s["keys"].as_array().unwrap();
        for k in keys {
            for (x, b) in state.iter_mut().zip(hex(k)) {
                *x ^= b;
            }
        }
        assert_eq!(to_hex(&state), s["state"].as_str().unwrap());
        assert_eq!([&PFX[..], b"want", &state].concat(), hex(&s["want_dmx_input"]));
        assert_eq!([&PFX[..], b"blob", &state].concat(), hex(&s["chnk_dmx_input"]));
        let wdmx = want_dmx(&state);
        assert_eq!(wdmx, Dmx::from_hex(s["want_dmx"].as_str().unwrap()).unwrap());
        assert_eq!(chnk_dmx(&state), Dmx::from_hex(s["chnk_dmx"].as_str().unwrap()).unwrap());

        // All feeds are empty, so the WANT asks for seq 1 of every feed from the offset on.
        let adv = &s["want_adv"];
        let offset = u32::try_from(adv["log_offs"].as_u64().unwrap()).unwrap();
        let packets = adv["packets"].as_array().unwrap();
        assert_eq!(packets.len(), 1);
        let packet = hex(&packets[0]);
        let want = WantVector::fitting(offset, vec![Seq(1); keys.len()]);
        assert_eq!(want.seqs.len(), keys.len());
        assert_eq!(want.to_packet(&wdmx), packet);
        assert_eq!(packet[..7], wdmx.0);
        assert_eq!(WantVector::decode(&packet[7..]), Ok(want));
        assert!(s["chnk_adv"]["packets"].as_array().unwrap().is_empty());
    }
}

#[test]
fn served_requests_decode() {
    let v = load("serve.json");
    let wdmx = hex(&v["want_dmx"]);
    let cdmx = hex(&v["chnk_dmx"]);
    let mut seen = 0;
    for case in v["cases"].as_array().unwrap() {
        let request = hex(&case["request"]);
        let (dmx, body) = request.split_at(7);
        let nums = &case["vector"];
        if dmx == cdmx {
            let decoded = ChnkVector::decode(body).unwrap();
            let expect: Vec<Vec<u32>> = nums.as_array().unwrap().iter().map(u32s).collect();
            let got: Vec<Vec<u32>> =
                decoded.requests.iter().map(|r| vec![r.feed_index, r.seq.0, r.chunk]).collect();
            assert_eq!(got, expect);
            seen += 1;
        } else {
            // WANT packets, including the one sent on an unknown DMX.
            assert!(dmx == wdmx || dmx == [0; 7]);
            let decoded = WantVector::decode(body).unwrap();
            let mut got = vec![decoded.offset];
            got.extend(decoded.seqs.iter().map(|s| s.0));
            assert_eq!(got, u32s(nums));
            seen += 1;
        }
    }
    assert_eq!(seen, 9);
}
