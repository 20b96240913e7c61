//! `GET /v1/openapi.json`: served without a key, identical to schema/openapi.json (which the
//! shared crate's tests keep equal to the generator), and naming only routes that answer.

use vinr_conformance::*;

#[test]
fn the_document_is_served_without_a_key_and_matches_the_committed_file() {
    let rt = shared();
    let doc = rt.get("/v1/openapi.json").no_auth().send().ok();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(runtime::workspace_root().join("schema/openapi.json")).unwrap())
            .unwrap();
    assert_eq!(doc, file, "served document differs from schema/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_documented_operation_is_routed() {
    let rt = shared();
    let doc = rt.get("/v1/openapi.json").send().ok();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "zz_nonexistent");
            let r = rt.req(&method.to_ascii_uppercase(), &concrete).no_auth().send();
            // Without a key a routed operation answers 401 (or 200 for the public document);
            // an unrouted one would be 404 route_not_found or 405.
            let status = r.status;
            assert!(
                status == 401 || (status == 200 && path == "/v1/openapi.json"),
                "{method} {path}: {status} {}",
                r.show()
            );
        }
    }
}
