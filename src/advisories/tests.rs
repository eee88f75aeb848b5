//! The compiled-in data against hand-worked answers and against the
//! vendored KEV excerpt; the operator's file validation.

use super::*;

fn db() -> Arc<Advisories> {
    let db = Advisories::parse(BUILTIN).expect("the built-in data is valid");
    Arc::new(db)
}

/// 2026-12-05: 9.1 (end of support 2024-12-31) is past its end.
fn today() -> Date {
    Date::parse("2026-12-05").unwrap()
}

const ALL_2020_2021: [&str; 7] = [
    "CVE-2020-8218",
    "CVE-2020-8243",
    "CVE-2020-8260",
    "CVE-2021-22893",
    "CVE-2021-22894",
    "CVE-2021-22899",
    "CVE-2021-22900",
];
const JAN_2024: [&str; 3] = ["CVE-2023-46805", "CVE-2024-21887", "CVE-2024-21893"];

fn set(parts: &[&[&str]]) -> Vec<String> {
    let mut v: Vec<String> = parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Expected answer of one vector.
enum Want {
    /// Placed, affected by exactly these CVEs.
    Cves(Vec<String>),
    /// The data cannot place it.
    Unknown,
}

struct Vector {
    product: Product,
    version: &'static str,
    build: Option<&'static str>,
    want: Want,
    eos: bool,
    mismatch: bool,
}

fn known(
    product: Product,
    version: &'static str,
    build: Option<&'static str>,
    cves: Vec<String>,
    eos: bool,
    mismatch: bool,
) -> Vector {
    Vector {
        product,
        version,
        build,
        want: Want::Cves(cves),
        eos,
        mismatch,
    }
}

fn unknown(product: Product, version: &'static str, build: Option<&'static str>) -> Vector {
    Vector {
        product,
        version,
        build,
        want: Want::Unknown,
        eos: false,
        mismatch: false,
    }
}

use Product::{Ics, Ips, Zta};

#[rustfmt::skip]
fn vectors() -> Vec<Vector> {
    vec![
        // 1. Seed 000's appliance, 9.1R7 build 6087. 2019-11510/11539: 9.1
        // is not in their ranges (fixed in 9.0R3.4 before 9.1 shipped).
        // 2020-8218 (<9.1R8), 8243 (<9.1R8.2), 8260 (<9.1R9), the four
        // 2021 CVEs (<9.1R11.4), the January 2024 chain (9.1R7 train has
        // no patch), 22457 (every 9.1). Not 0282 (22.7 only), not 22024
        // (only the first Jan 2024 patches). 9.1 ended 2024-12-31.
        known(Ics, "9.1R7", Some("6087"), set(&[&ALL_2020_2021, &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 2. Its rollback image 9.1R6 build 5801: the same trains' rules.
        known(Ics, "9.1R6", Some("5801"), set(&[&ALL_2020_2021, &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 3. 9.1R8: 8218 fixed by the train (<9.1R8 means 9.1R8.0 is
        // fixed); 8243 fixed at 9.1R8.2, so 9.1R8 is still affected; 8260
        // (<9.1R9) affected; the 2021 four, Jan 2024, 22457.
        known(Ics, "9.1R8", None, set(&[&["CVE-2020-8243", "CVE-2020-8260", "CVE-2021-22893", "CVE-2021-22894", "CVE-2021-22899", "CVE-2021-22900"], &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 4. 9.1R8.2: 8243 fixed in the train; the rest as 9.1R8.
        known(Ics, "9.1R8.2", None, set(&[&["CVE-2020-8260", "CVE-2021-22893", "CVE-2021-22894", "CVE-2021-22899", "CVE-2021-22900"], &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 5. 9.1R11.3: one below the 2021 fix 9.1R11.4: all four 2021.
        known(Ics, "9.1R11.3", None, set(&[&["CVE-2021-22893", "CVE-2021-22894", "CVE-2021-22899", "CVE-2021-22900"], &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 6. 9.1R11.4: the 2021 fix; still Jan 2024 (train 9.1R11 has no
        // patch for it) and 22457.
        known(Ics, "9.1R11.4", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 7. 9.1R14.3: one below the first Jan 2024 patch 9.1R14.4.
        known(Ics, "9.1R14.3", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 8. 9.1R14.4: Jan 2024 fixed; 22024 introduced by this very patch
        // ([9.1R14.4, 9.1R14.5)); 22457 (no 9.1 fix).
        known(Ics, "9.1R14.4", None, set(&[&["CVE-2024-22024", "CVE-2025-22457"]]), true, false),
        // 9. 9.1R14.5: 22024 fixed; only 22457 left.
        known(Ics, "9.1R14.5", None, set(&[&["CVE-2025-22457"]]), true, false),
        // 10. The 9.1R15 case: a plain "< 9.1R18.3" would be wrong in both
        // directions; per train, 9.1R15 (patch 0) is before 9.1R15.2.
        known(Ics, "9.1R15", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 11. 9.1R15.1: still before 9.1R15.2.
        known(Ics, "9.1R15.1", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 12. 9.1R15.2: Jan 2024 fixed in its train although 9.1R15.2 <
        // 9.1R18.3 numerically; 22024 [9.1R15.2, 9.1R15.3) and 22457.
        known(Ics, "9.1R15.2", None, set(&[&["CVE-2024-22024", "CVE-2025-22457"]]), true, false),
        // 13. 9.1R17.1: below 9.1R17.2.
        known(Ics, "9.1R17.1", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 14. 9.1R18.2: below 9.1R18.3.
        known(Ics, "9.1R18.2", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 15. 9.1R18.3: fixed for Jan 2024; 22024 [9.1R18.3, 9.1R18.4); 22457.
        known(Ics, "9.1R18.3", None, set(&[&["CVE-2024-22024", "CVE-2025-22457"]]), true, false),
        // 16. 9.1R18.9, the last 9.1: only 22457, never fixed in 9.1.
        known(Ics, "9.1R18.9", None, set(&[&["CVE-2025-22457"]]), true, false),
        // 17. 9.0R3.3: 2019-11510 and 11539 (fixed 9.0R3.4), 2020 three
        // (<9.1R8 etc. cover every earlier train), 2021 four (22893 from
        // 9.0R3 on), Jan 2024 (ICS <= 9.1R18), 22457. 9.0 is past support.
        known(Ics, "9.0R3.3", None, set(&[&["CVE-2019-11510", "CVE-2019-11539"], &ALL_2020_2021, &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 18. 9.0R3.4: the 2019 pair fixed; everything else as above.
        known(Ics, "9.0R3.4", None, set(&[&ALL_2020_2021, &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 19. 8.3R7.1: 2019 pair fixed in 8.3R7.1; 22893 starts at 9.0R3,
        // so not here; 22894/22899/22900 (<9.1R11.4) are.
        known(Ics, "8.3R7.1", None, set(&[&["CVE-2020-8218", "CVE-2020-8243", "CVE-2020-8260", "CVE-2021-22894", "CVE-2021-22899", "CVE-2021-22900"], &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 20. 22.4R2.1: Jan 2024 (fixed 22.4R2.2) and 22457.
        known(Ics, "22.4R2.1", None, set(&[&JAN_2024, &["CVE-2025-22457"]]), false, false),
        // 21. 22.5R1.1: the first patch: Jan 2024 fixed, 22024
        // [22.5R1.1, 22.5R1.2), 22457. 22.x has no end of support in the data.
        known(Ics, "22.5R1.1", None, set(&[&["CVE-2024-22024", "CVE-2025-22457"]]), false, false),
        // 22. 22.7R2 build 1379 (no build table entry for R2.0; 1379 <
        // 3191 = R2.1, consistent with R2.0): 0282 [22.7R2, 22.7R2.5) and
        // 22457 [22.7R2, 22.7R2.6). 22.7R2 postdates the Jan 2024 chain.
        known(Ics, "22.7R2", Some("1379"), set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 23. "22.7R2.3 (build 3431)": the build matches the table.
        known(Ics, "22.7R2.3 (build 3431)", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 24. "22.7r2.4 b3597": the last release before 0282's fix.
        known(Ics, "22.7r2.4 b3597", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 25. "ICS 22.7R2.4", no build at all: the same.
        known(Ics, "ICS 22.7R2.4", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 26. 22.7R2.5: 0282 fixed, 22457 not yet (22.7R2.6).
        known(Ics, "22.7R2.5", None, set(&[&["CVE-2025-22457"]]), false, false),
        // 27. 22.7R2.6 build 3981: nothing known.
        known(Ics, "22.7R2.6", Some("3981"), vec![], false, false),
        // 28. The build-vs-patch trap: 22.7.2.3597 is 22.7R2 build 3597 =
        // 22.7R2.4, affected by both. Compared with 22.7.2.6 as if 3597
        // were a patch level it would look "fixed".
        known(Ics, "22.7.2.3597", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 29. 22.7.2.3981 = 22.7R2.6: fixed.
        known(Ics, "22.7.2.3981", None, vec![], false, false),
        // 30. 22.7.2.4100: after 3981 (R2.6), so at least R2.6: fixed.
        known(Ics, "22.7.2.4100", None, vec![], false, false),
        // 31. 22.7.2.3700: between 3597 (R2.4) and 3981 (R2.6): at least
        // R2.4 and below R2.6, so 22457 certainly; 0282 (fixed R2.5)
        // cannot be decided: unknown, not a guess.
        unknown(Ics, "22.7.2.3700", None),
        // 32. 22.7.2.3300: between R2.1 and R2.3: below R2.5 and R2.6: both.
        known(Ics, "22.7.2.3300", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 33. 9.1.7.6087 dotted: 9.1R7 whole-train ranges only: as vector 1.
        known(Ics, "9.1.7.6087", None, set(&[&ALL_2020_2021, &JAN_2024, &["CVE-2025-22457"]]), true, false),
        // 34. A mismatched build: "22.7R2.5" with build 3597 (= 22.7R2.4,
        // a fake upgrade's signature). Both readings count: 22457 from the
        // version, 0282 from the build.
        known(Ics, "22.7R2.5", Some("3597"), set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, true),
        // 35. The simulator's old pairing 22.7R2.3 / 3191 (= 22.7R2.1):
        // mismatch; both readings give 0282 and 22457.
        known(Ics, "22.7R2.3", Some("3191"), set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, true),
        // 36. 22.7R2.6 with build 4100: no entry for R2.6? There is
        // (3981), and 4100 differs: mismatch. 4100 places at >= R2.6: fixed.
        known(Ics, "22.7R2.6", Some("4100"), vec![], false, true),
        // 37. An unknown train: 22.8R2 is not in the ICS table.
        unknown(Ics, "22.8R2.2", None),
        // 38. An unknown train inside a known major: 9.1R19 never existed.
        unknown(Ics, "9.1R19", None),
        // 39. Not a version at all.
        unknown(Ics, "n/a", None),
        // 40. A build that is not a number.
        unknown(Ics, "22.7R2.4", Some("abc")),
        // 41. IPS 22.7R1.2: 0282 [22.7R1, 22.7R1.3) and 22457 (<22.7R1.4).
        known(Ips, "22.7R1.2", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 42. IPS 22.7R1.3: 0282 fixed, 22457 not yet.
        known(Ips, "22.7R1.3", None, set(&[&["CVE-2025-22457"]]), false, false),
        // 43. IPS 22.5R1.1: Jan 2024 fixed (IPS 22.5R1.1 per Ivanti's
        // CVE-2024-22024 advisory),
        // 22024 [22.5R1.1, 22.5R1.2), 22457.
        known(Ips, "22.5R1.1", None, set(&[&["CVE-2024-22024", "CVE-2025-22457"]]), false, false),
        // 44. ZTA 22.6R1.2: 21893 (ZTA fix 22.6R1.3), 22457 (<22.8R2.2).
        // 46805/21887 name Connect Secure and Policy Secure only.
        known(Zta, "22.6R1.2", None, set(&[&["CVE-2024-21893", "CVE-2025-22457"]]), false, false),
        // 45. ZTA 22.7R2.3: 0282 (fixed 22.7R2.5) and 22457.
        known(Zta, "22.7R2.3", None, set(&[&["CVE-2025-0282", "CVE-2025-22457"]]), false, false),
        // 46. ZTA 22.8R2.2: fixed.
        known(Zta, "22.8R2.2", None, vec![], false, false),
        // 47. The product matters: ICS 22.7R1 is not an ICS train in the data.
        unknown(Ics, "22.7R1.2", None),
        // 48. ZTA 22.6R1.3: 21893's fix, and (Ivanti's CVE-2024-22024
        // advisory) 22024's introduction with no cited ZTA fix; 22457
        // (< 22.8R2.2). 22.6R1.2 before it has 21893 and not 22024 (44).
        known(Zta, "22.6R1.3", None, set(&[&["CVE-2024-22024", "CVE-2025-22457"]]), false, false),
    ]
}

#[test]
fn hand_worked_vectors() {
    let db = db();
    let vectors = vectors();
    assert!(vectors.len() >= 30);
    for v in vectors {
        let a = db.assess(v.product, v.version, v.build, today());
        let what = format!("{:?} {} {:?}", v.product, v.version, v.build);
        match v.want {
            Want::Cves(want) => {
                let got: Vec<String> = match &a.placement {
                    Placement::Known(c) => c.iter().map(|c| c.id.clone()).collect(),
                    Placement::Unknown => panic!("{what}: unknown, expected {want:?}"),
                };
                assert_eq!(got, want, "{what}");
            }
            Want::Unknown => assert_eq!(a.placement, Placement::Unknown, "{what}"),
        }
        assert_eq!(a.end_of_support, v.eos, "{what}: end of support");
        assert_eq!(a.build_mismatch, v.mismatch, "{what}: build mismatch");
    }
}

#[test]
fn end_of_support_is_a_date() {
    let db = db();
    let before = Date::parse("2024-12-30").unwrap();
    let on = Date::parse("2024-12-31").unwrap();
    assert!(!db.assess(Ics, "9.1R18.9", None, before).end_of_support);
    assert!(db.assess(Ics, "9.1R18.9", None, on).end_of_support);
}

/// Every KEV row for Connect Secure / Policy Secure / ZTA gateways has an
/// entry, with the same date added and ransomware flag; and every entry
/// that claims to be in KEV is in the excerpt.
#[test]
fn agrees_with_the_kev_excerpt() {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Catalog {
        catalog_version: String,
        vulnerabilities: Vec<Row>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Row {
        #[serde(rename = "cveID")]
        cve_id: String,
        vendor_project: String,
        product: String,
        date_added: String,
        known_ransomware_campaign_use: String,
    }
    let kev: Catalog = serde_json::from_str(include_str!("kev-excerpt.json")).unwrap();
    let db = db();
    assert_eq!(db.catalog_version, kev.catalog_version);
    let rows: Vec<&Row> = kev
        .vulnerabilities
        .iter()
        .filter(|r| {
            matches!(r.vendor_project.as_str(), "Ivanti" | "Pulse Secure")
                && (r.product.contains("Connect Secure") || r.product.contains("Policy Secure"))
        })
        .collect();
    assert_eq!(rows.len(), 14, "the excerpt holds the 14 gateway rows");
    for r in &rows {
        let c = db
            .cves
            .iter()
            .find(|c| c.id == r.cve_id)
            .unwrap_or_else(|| panic!("{} is in KEV but not in the data", r.cve_id));
        let k = c
            .kev
            .unwrap_or_else(|| panic!("{}: no kev entry", r.cve_id));
        assert_eq!(
            Some(k.date_added),
            Date::parse(&r.date_added),
            "{}",
            r.cve_id
        );
        assert_eq!(
            k.ransomware,
            r.known_ransomware_campaign_use == "Known",
            "{}",
            r.cve_id
        );
    }
    for c in db.cves.iter().filter(|c| c.kev.is_some()) {
        assert!(
            rows.iter().any(|r| r.cve_id == c.id),
            "{} claims KEV but is not in the excerpt",
            c.id
        );
    }
    // Every CVE affects something, and cites where that comes from.
    for c in &db.cves {
        assert!(!c.ranges.is_empty(), "{}", c.id);
        assert!(!c.sources.is_empty(), "{}", c.id);
    }
}

#[test]
fn operator_files_are_validated_with_every_problem() {
    let base = BUILTIN;
    let cases: &[(&str, &str, &str)] = &[
        ("schema: 1", "schema: 2", "schema: 2 is not supported"),
        (
            "updated: \"2026-12-05\"",
            "updated: \"yesterday\"",
            "updated: \"yesterday\" is not YYYY-MM-DD",
        ),
        (
            "{product: ics, trains: \"22.7R2\", fixed: \"22.7R2.5\"}",
            "{product: ics, trains: \"22.7R2\", fixed: \"22.7R3.5\"}",
            "fixed: 22.7R3.5 is not in train 22.7R2",
        ),
        (
            "{product: ics, trains: \"22.7R2\", fixed: \"22.7R2.5\"}",
            "{product: ics, trains: \"22.9R1\", fixed: \"22.9R1.5\"}",
            "trains: 22.9R1 is not in the train table",
        ),
        (
            "{product: ics, trains: \"8.1R1..9.1R7\"}",
            "{product: ics, trains: \"9.1R7..8.1R1\"}",
            "is after",
        ),
        ("- id: CVE-2020-8260", "- id: CVE-2020-826", "not a CVE id"),
        (
            "\"22.7R2.4\": {build: 3597, source: build-list}",
            "\"22.7R2.4\": {build: 3000, source: build-list}",
            "do not rise with the patch level",
        ),
        (
            "advisory: \"https://kb.pulsesecure.net/articles/Pulse_Security_Advisories/SA44601\"",
            "advisory: \"kb.pulsesecure.net\"",
            "expected an https:// link",
        ),
        (
            "catalog_version: \"2025.08.25\"",
            "catalog_version: \"2025.08.25\"\nsurprise: 1",
            "unknown field `surprise`",
        ),
    ];
    for (from, to, want) in cases {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        let err = Advisories::parse(&text).expect_err(want);
        assert!(err.to_string().contains(want), "{want:?} not in {err}");
    }
    assert!(Advisories::parse("").is_err());
    assert!(Advisories::parse("[1, 2]").is_err());
}

#[test]
fn builtin_metadata() {
    let db = Advisories::builtin();
    assert_eq!(db.catalog_version, "2025.08.25");
    assert_eq!(db.updated, Date::parse("2026-12-05").unwrap());
    assert_eq!(db.updated.unix_seconds(), 1_796_428_800);
    assert_eq!(db.cves.len(), 15, "the 14 KEV CVEs and CVE-2024-22024");
}
