//! Which known vulnerabilities affect a firmware version: a curated data
//! file (`advisories.yml`, compiled in; replaceable by the operator's
//! `advisories_file:`), loaded and validated once, then pure lookups.
//!
//! Exposure comes only from the version the exporter already reads from
//! `system-information`: nothing here sends a request (docs/security.md,
//! "Never probe"). A version the data cannot place (unknown train, a build
//! the build table cannot order) is [`Placement::Unknown`], never
//! "affected" and never "fixed".

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

pub mod version;

pub use version::{parse_build, Train, Version, VersionError};

/// The data compiled into the exporter.
pub const BUILTIN: &str = include_str!("advisories.yml");

/// A product line of the gateways (`kind_options.product`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// Connect Secure (formerly Pulse Connect Secure).
    #[default]
    Ics,
    /// Policy Secure (formerly Pulse Policy Secure).
    Ips,
    /// Neurons for ZTA gateways.
    Zta,
}

impl Product {
    /// Every product and its config name.
    pub const ALL: [(&'static str, Product); 3] = [
        ("ics", Product::Ics),
        ("ips", Product::Ips),
        ("zta", Product::Zta),
    ];

    /// From a config value.
    pub fn parse(s: &str) -> Option<Product> {
        Product::ALL.iter().find(|(n, _)| *n == s).map(|(_, p)| *p)
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Product::Ics => "ics",
            Product::Ips => "ips",
            Product::Zta => "zta",
        }
    }
}

/// A calendar date (UTC), `YYYY-MM-DD` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Days since 1970-01-01.
    pub days: i64,
}

impl Date {
    /// Parse `2024-12-31`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut it = s.trim().split('-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
        let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
        let epoch = time::Date::from_calendar_date(1970, time::Month::January, 1).ok()?;
        Some(Date {
            days: (date - epoch).whole_days(),
        })
    }

    /// Today, UTC.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Date {
            days: secs.div_euclid(86_400),
        }
    }

    /// Unix time of its midnight, UTC.
    pub fn unix_seconds(self) -> i64 {
        self.days * 86_400
    }
}

// ---- the file as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    schema: u32,
    catalog_version: String,
    updated: String,
    #[serde(default)]
    sources: BTreeMap<String, String>,
    products: BTreeMap<Product, FileProduct>,
    cves: Vec<FileCve>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProduct {
    trains: Vec<FileTrain>,
    #[serde(default)]
    builds: BTreeMap<String, FileBuild>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTrain {
    trains: String,
    end_of_support: Option<String>,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBuild {
    build: u32,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCve {
    id: String,
    title: String,
    kev: Option<FileKev>,
    advisory: String,
    sources: Vec<String>,
    affects: Vec<FileRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKev {
    date_added: String,
    ransomware: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRange {
    product: Product,
    trains: String,
    introduced: Option<String>,
    fixed: Option<String>,
}

// ---- the validated model ----

/// One CVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cve {
    /// `CVE-2025-22457`.
    pub id: String,
    /// Short title.
    pub title: String,
    /// In CISA's KEV catalog: the date it was added and its ransomware flag.
    pub kev: Option<Kev>,
    /// The vendor's advisory.
    pub advisory: String,
    /// Where each fact comes from.
    pub sources: Vec<String>,
    ranges: Vec<Range>,
}

/// A CVE's KEV catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kev {
    /// `dateAdded`.
    pub date_added: Date,
    /// `knownRansomwareCampaignUse` is `Known`.
    pub ransomware: bool,
}

/// Half-open `[introduced, fixed)` in one train, as patch levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    product: Product,
    train: Train,
    introduced: u32,
    fixed: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ProductData {
    /// Known trains and their end of support.
    trains: BTreeMap<Train, Option<Date>>,
    /// Per train, patch level -> build, and build -> patch level.
    builds: BTreeMap<Train, BTreeMap<u32, u32>>,
}

/// The validated advisory data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisories {
    /// The KEV catalog version it was checked against.
    pub catalog_version: String,
    /// When it was curated.
    pub updated: Date,
    /// Every CVE.
    pub cves: Vec<Cve>,
    products: BTreeMap<Product, ProductData>,
}

/// Problems with a data file, all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DataError(pub Vec<String>);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// Expand `A..B` (every known train from A to B) or a single train.
fn span(text: &str, known: &BTreeMap<Train, Option<Date>>) -> Result<Vec<Train>, String> {
    match text.split_once("..") {
        Some((a, b)) => {
            let a = Train::parse(a).map_err(|e| e.to_string())?;
            let b = Train::parse(b).map_err(|e| e.to_string())?;
            if a > b {
                return Err(format!("{text:?}: {a} is after {b}"));
            }
            Ok(known
                .keys()
                .copied()
                .filter(|t| (a..=b).contains(t))
                .collect())
        }
        None => Ok(vec![Train::parse(text).map_err(|e| e.to_string())?]),
    }
}

/// `A..B` over a product's train numbering, for the train table itself
/// (before any train is known): every release number from A to B of one
/// `major.minor`.
fn table_span(text: &str) -> Result<Vec<Train>, String> {
    match text.split_once("..") {
        Some((a, b)) => {
            let a = Train::parse(a).map_err(|e| e.to_string())?;
            let b = Train::parse(b).map_err(|e| e.to_string())?;
            if (a.major, a.minor) != (b.major, b.minor) || a.release > b.release {
                return Err(format!(
                    "{text:?}: a span in the train table stays in one major.minor, in order"
                ));
            }
            Ok((a.release..=b.release)
                .map(|release| Train { release, ..a })
                .collect())
        }
        None => Ok(vec![Train::parse(text).map_err(|e| e.to_string())?]),
    }
}

fn exact(text: &str) -> Result<Version, String> {
    let v = Version::parse(text).map_err(|e| e.to_string())?;
    if v.patch.is_none() || v.build.is_some() {
        return Err(format!("{text:?}: expected a version such as 22.7R2.5"));
    }
    Ok(v)
}

impl Advisories {
    /// The data compiled in (validated by the tests; never fails).
    pub fn builtin() -> Arc<Advisories> {
        static B: OnceLock<Arc<Advisories>> = OnceLock::new();
        B.get_or_init(|| {
            Arc::new(Advisories::parse(BUILTIN).unwrap_or_else(|e| {
                // The tests load BUILTIN; a broken build is caught there.
                tracing::error!(error = %e, "the built-in advisory data is invalid");
                Advisories::empty()
            }))
        })
        .clone()
    }

    fn empty() -> Advisories {
        Advisories {
            catalog_version: String::new(),
            updated: Date { days: 0 },
            cves: Vec::new(),
            products: BTreeMap::new(),
        }
    }

    /// Parse and validate a data file; every problem at once.
    pub fn parse(text: &str) -> Result<Advisories, DataError> {
        let file: FileData =
            serde_yaml::from_str(text).map_err(|e| DataError(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        if file.schema != 1 {
            problems.push(format!(
                "schema: {} is not supported (expected 1)",
                file.schema
            ));
        }
        if file.catalog_version.trim().is_empty() {
            problems.push("catalog_version: empty".into());
        }
        let updated = Date::parse(&file.updated).unwrap_or_else(|| {
            problems.push(format!("updated: {:?} is not YYYY-MM-DD", file.updated));
            Date { days: 0 }
        });
        let source_ok = |s: &str| !s.trim().is_empty();
        let mut products = BTreeMap::new();
        for (product, p) in &file.products {
            let at = format!("products.{}", product.name());
            let mut data = ProductData::default();
            for (i, t) in p.trains.iter().enumerate() {
                let at = format!("{at}.trains[{i}]");
                if !source_ok(&t.source) {
                    problems.push(format!("{at}.source: empty"));
                }
                let eos = match &t.end_of_support {
                    Some(d) => match Date::parse(d) {
                        Some(d) => Some(d),
                        None => {
                            problems.push(format!("{at}.end_of_support: {d:?} is not YYYY-MM-DD"));
                            None
                        }
                    },
                    None => None,
                };
                match table_span(&t.trains) {
                    Ok(trains) => {
                        for train in trains {
                            if data.trains.insert(train, eos).is_some() {
                                problems.push(format!("{at}: train {train} listed twice"));
                            }
                        }
                    }
                    Err(e) => problems.push(format!("{at}.trains: {e}")),
                }
            }
            for (v, b) in &p.builds {
                let at = format!("{at}.builds.{v:?}");
                if !source_ok(&b.source) {
                    problems.push(format!("{at}.source: empty"));
                }
                match exact(v) {
                    Ok(v) if !data.trains.contains_key(&v.train) => {
                        problems.push(format!("{at}: train {} is not in the train table", v.train))
                    }
                    Ok(v) => {
                        let table = data.builds.entry(v.train).or_default();
                        if table.values().any(|&x| x == b.build) {
                            problems.push(format!("{at}: build {} given twice", b.build));
                        }
                        table.insert(v.patch.unwrap_or(0), b.build);
                    }
                    Err(e) => problems.push(format!("{at}: {e}")),
                }
            }
            // Builds must rise with the patch level inside a train.
            for (train, table) in &data.builds {
                let builds: Vec<u32> = table.values().copied().collect();
                if builds.windows(2).any(|w| w[0] >= w[1]) {
                    problems.push(format!(
                        "{at}.builds: builds of {train} do not rise with the patch level"
                    ));
                }
            }
            products.insert(*product, data);
        }
        let mut ids = BTreeSet::new();
        let mut cves = Vec::new();
        for (i, c) in file.cves.iter().enumerate() {
            let at = format!("cves[{i}] ({})", c.id);
            if !valid_cve_id(&c.id) {
                problems.push(format!("{at}.id: not a CVE id"));
            }
            if !ids.insert(c.id.clone()) {
                problems.push(format!("{at}.id: listed twice"));
            }
            if c.title.trim().is_empty() {
                problems.push(format!("{at}.title: empty"));
            }
            if !c.advisory.starts_with("https://") {
                problems.push(format!("{at}.advisory: expected an https:// link"));
            }
            if c.sources.is_empty() || !c.sources.iter().all(|s| source_ok(s)) {
                problems.push(format!("{at}.sources: every CVE cites its sources"));
            }
            let kev = c
                .kev
                .as_ref()
                .and_then(|k| match Date::parse(&k.date_added) {
                    Some(d) => Some(Kev {
                        date_added: d,
                        ransomware: k.ransomware,
                    }),
                    None => {
                        problems.push(format!("{at}.kev.date_added: not YYYY-MM-DD"));
                        None
                    }
                });
            let mut ranges = Vec::new();
            for (j, r) in c.affects.iter().enumerate() {
                let at = format!("{at}.affects[{j}]");
                let Some(pd) = products.get(&r.product) else {
                    problems.push(format!(
                        "{at}.product: {} has no train table",
                        r.product.name()
                    ));
                    continue;
                };
                let trains = match span(&r.trains, &pd.trains) {
                    Ok(t) => t,
                    Err(e) => {
                        problems.push(format!("{at}.trains: {e}"));
                        continue;
                    }
                };
                if trains.is_empty() {
                    problems.push(format!("{at}.trains: {:?} names no known train", r.trains));
                    continue;
                }
                if let Some(t) = trains.iter().find(|t| !pd.trains.contains_key(t)) {
                    problems.push(format!("{at}.trains: {t} is not in the train table"));
                    continue;
                }
                if trains.len() > 1 && (r.introduced.is_some() || r.fixed.is_some()) {
                    problems.push(format!(
                        "{at}: introduced/fixed need a single train, not {:?}",
                        r.trains
                    ));
                    continue;
                }
                let bound = |v: &Option<String>, what: &str, problems: &mut Vec<String>| match v {
                    None => Ok(None),
                    Some(v) => match exact(v) {
                        Ok(x) if x.train == trains[0] => Ok(Some(x.patch.unwrap_or(0))),
                        Ok(x) => {
                            problems
                                .push(format!("{at}.{what}: {x} is not in train {}", trains[0]));
                            Err(())
                        }
                        Err(e) => {
                            problems.push(format!("{at}.{what}: {e}"));
                            Err(())
                        }
                    },
                };
                let (Ok(introduced), Ok(fixed)) = (
                    bound(&r.introduced, "introduced", &mut problems),
                    bound(&r.fixed, "fixed", &mut problems),
                ) else {
                    continue;
                };
                let introduced = introduced.unwrap_or(0);
                if fixed.is_some_and(|f| f <= introduced) {
                    problems.push(format!("{at}: fixed is not after introduced"));
                    continue;
                }
                for train in trains {
                    if ranges
                        .iter()
                        .any(|x: &Range| x.product == r.product && x.train == train)
                    {
                        problems.push(format!("{at}: train {train} has two ranges"));
                    }
                    ranges.push(Range {
                        product: r.product,
                        train,
                        introduced,
                        fixed,
                    });
                }
            }
            cves.push(Cve {
                id: c.id.clone(),
                title: c.title.clone(),
                kev,
                advisory: c.advisory.clone(),
                sources: c.sources.clone(),
                ranges,
            });
        }
        let _ = &file.sources;
        if problems.is_empty() {
            Ok(Advisories {
                catalog_version: file.catalog_version,
                updated,
                cves,
                products,
            })
        } else {
            Err(DataError(problems))
        }
    }

    /// Read and validate an operator's file.
    pub fn load(path: &std::path::Path) -> Result<Advisories, DataError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DataError(vec![format!("{}: {e}", path.display())]))?;
        Advisories::parse(&text)
    }

    /// What the data says about one image: `version` as the appliance
    /// prints it, `build` from `software-inventory` (or the rollback
    /// partition), on `today`.
    pub fn assess(
        &self,
        product: Product,
        version: &str,
        build: Option<&str>,
        today: Date,
    ) -> Assessment {
        let unknown = Assessment {
            placement: Placement::Unknown,
            end_of_support: false,
            build_mismatch: false,
        };
        let Ok(mut v) = Version::parse(version) else {
            return unknown;
        };
        if let Some(b) = build.map(str::trim).filter(|b| !b.is_empty()) {
            match parse_build(b) {
                Some(b) if v.build.is_none_or(|x| x == b) => v.build = Some(b),
                // Two different builds, or a build that is no number.
                _ => return unknown,
            }
        }
        let Some(pd) = self.products.get(&product) else {
            return unknown;
        };
        let Some(eos) = pd.trains.get(&v.train) else {
            return unknown;
        };
        let end_of_support = eos.is_some_and(|d| d <= today);
        let empty = BTreeMap::new();
        let table = pd.builds.get(&v.train).unwrap_or(&empty);
        // Where the build places the version inside its train.
        let by_build = v.build.map(|b| place(table, b));
        let build_mismatch = match (v.patch, v.build, by_build) {
            (Some(p), Some(b), Some(pos)) => match table.get(&p) {
                Some(&expected) => expected != b,
                None => !pos.contains(p),
            },
            _ => false,
        };
        let claimed = v.patch.map(Position::exact);
        let mut sets = Vec::new();
        for pos in [claimed, by_build].into_iter().flatten() {
            match self.affecting(product, v.train, pos) {
                Some(set) => sets.push(set),
                // The dotted form placed by an unknown build, or any
                // undecidable comparison: no answer rather than a guess.
                None if claimed.is_none() => {
                    return Assessment {
                        end_of_support,
                        ..unknown
                    }
                }
                None => {}
            }
        }
        // With a version and a build that disagree, both readings count:
        // a version string is what a fake upgrade changes.
        let mut cves: Vec<&Cve> = Vec::new();
        for set in sets {
            for c in set {
                if !cves.iter().any(|x| x.id == c.id) {
                    cves.push(c);
                }
            }
        }
        cves.sort_by(|a, b| a.id.cmp(&b.id));
        Assessment {
            placement: Placement::Known(cves.into_iter().cloned().collect()),
            end_of_support,
            build_mismatch,
        }
    }

    fn affecting(&self, product: Product, train: Train, pos: Position) -> Option<Vec<&Cve>> {
        let mut out = Vec::new();
        for c in &self.cves {
            for r in c
                .ranges
                .iter()
                .filter(|r| r.product == product && r.train == train)
            {
                let after_intro = pos.at_least(r.introduced)?;
                let before_fix = match r.fixed {
                    None => true,
                    Some(f) => !pos.at_least(f)?,
                };
                if after_intro && before_fix {
                    out.push(c);
                }
            }
        }
        Some(out)
    }

    /// The trains the data knows for a product (for the docs and tests).
    pub fn trains(&self, product: Product) -> Vec<Train> {
        self.products
            .get(&product)
            .map(|p| p.trains.keys().copied().collect())
            .unwrap_or_default()
    }
}

fn valid_cve_id(id: &str) -> bool {
    let mut parts = id.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("CVE"), Some(y), Some(n), None)
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())
            && n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit())
    )
}

/// A version's place inside its train, as patch levels: at least `lo`,
/// below `hi` (`None`: no upper bound known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    lo: u32,
    hi: Option<u32>,
}

impl Position {
    fn exact(p: u32) -> Position {
        Position {
            lo: p,
            hi: Some(p + 1),
        }
    }

    fn contains(self, p: u32) -> bool {
        self.lo <= p && self.hi.is_none_or(|h| p < h)
    }

    /// Is the version at or after patch level `p`? `None`: cannot tell.
    fn at_least(self, p: u32) -> Option<bool> {
        if self.lo >= p {
            Some(true)
        } else if self.hi.is_some_and(|h| h <= p) {
            Some(false)
        } else {
            None
        }
    }
}

/// Place a build among a train's known builds (they rise with the patch
/// level): its own patch level when listed, else between its neighbours.
fn place(table: &BTreeMap<u32, u32>, build: u32) -> Position {
    if let Some((&p, _)) = table.iter().find(|(_, &b)| b == build) {
        return Position::exact(p);
    }
    let lo = table
        .iter()
        .filter(|(_, &b)| b < build)
        .map(|(&p, _)| p)
        .max()
        .unwrap_or(0);
    let hi = table
        .iter()
        .filter(|(_, &b)| b > build)
        .map(|(&p, _)| p)
        .min();
    Position { lo, hi }
}

/// Whether the data can place a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Placed: the CVEs that affect it (empty: none known), by id.
    Known(Vec<Cve>),
    /// Unknown train, unparsable version, or a build the data cannot order.
    Unknown,
}

/// What the data says about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The affecting CVEs, or unknown.
    pub placement: Placement,
    /// Its train is past its end of support.
    pub end_of_support: bool,
    /// Its build contradicts its version per the build table.
    pub build_mismatch: bool,
}

impl Assessment {
    /// The affecting CVE ids (empty when unknown), for tests and logs.
    pub fn ids(&self) -> Vec<&str> {
        match &self.placement {
            Placement::Known(c) => c.iter().map(|c| c.id.as_str()).collect(),
            Placement::Unknown => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
