//! spin.toml (manifest version 2): the parts `vinr dev` uses, and Spin's route matching.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: String,
    component: String,
}

#[derive(Deserialize)]
struct RawComponent {
    source: String,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    build: Option<RawBuild>,
}

#[derive(Deserialize)]
struct RawBuild {
    command: String,
}

pub struct Manifest {
    /// Directory of spin.toml: relative paths (sources, builds, migrations) resolve against it.
    pub dir: PathBuf,
    pub routes: Vec<Route>,
    pub components: BTreeMap<String, ComponentDef>,
}

pub struct ComponentDef {
    pub source: PathBuf,
    pub sqlite_databases: Vec<String>,
    pub build_command: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Route {
    /// As written in spin.toml, e.g. `/v1/payments/...`.
    pub raw: String,
    pub pattern: RoutePattern,
    pub component: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RoutePattern {
    Exact(String),
    /// `/v1/payments/...` is stored as `/v1/payments`; `/...` as the empty prefix.
    Prefix(String),
}

impl RoutePattern {
    pub fn parse(route: &str) -> RoutePattern {
        match route.strip_suffix("/...") {
            Some(prefix) => RoutePattern::Prefix(prefix.trim_end_matches('/').to_string()),
            None if route == "..." => RoutePattern::Prefix(String::new()),
            None => RoutePattern::Exact(route.to_string()),
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            RoutePattern::Exact(p) => p == path,
            // The prefix itself or anything below it, never a sibling that merely shares the
            // characters (`/v1/paymentsx`).
            RoutePattern::Prefix(p) => path == p || (path.starts_with(p.as_str()) && path[p.len()..].starts_with('/')),
        }
    }

    /// Higher wins. Spin prefers an exact route to any wildcard, then the longest prefix.
    fn specificity(&self) -> (u8, usize) {
        match self {
            RoutePattern::Exact(p) => (1, p.len()),
            RoutePattern::Prefix(p) => (0, p.len()),
        }
    }

    /// The part of `path` after the matched prefix (Spin's `spin-path-info`).
    pub fn path_info<'a>(&self, path: &'a str) -> &'a str {
        match self {
            RoutePattern::Exact(_) => "",
            RoutePattern::Prefix(p) => &path[p.len()..],
        }
    }
}

/// The most specific route matching `path`, if any.
pub fn match_route<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| r.pattern.matches(path))
        .max_by_key(|r| r.pattern.specificity())
}

impl Manifest {
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
        let raw: RawManifest = toml::from_str(&text).with_context(|| format!("invalid manifest {}", path.display()))?;
        let abs = std::path::absolute(path)?;
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();

        let mut components = BTreeMap::new();
        for (name, c) in raw.component {
            components.insert(
                name,
                ComponentDef {
                    source: dir.join(&c.source),
                    sqlite_databases: c.sqlite_databases,
                    build_command: c.build.map(|b| b.command),
                },
            );
        }
        let mut routes = Vec::new();
        for t in raw.trigger.http {
            if !components.contains_key(&t.component) {
                bail!("route {} names unknown component {:?}", t.route, t.component);
            }
            routes.push(Route {
                pattern: RoutePattern::parse(&t.route),
                raw: t.route,
                component: t.component,
            });
        }
        Ok(Manifest {
            dir,
            routes,
            components,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(list: &[(&str, &str)]) -> Vec<Route> {
        list.iter()
            .map(|(r, c)| Route {
                raw: r.to_string(),
                pattern: RoutePattern::parse(r),
                component: c.to_string(),
            })
            .collect()
    }

    fn target(routes: &[Route], path: &str) -> Option<String> {
        match_route(routes, path).map(|r| r.component.clone())
    }

    #[test]
    fn wildcard_matches_prefix_and_below_only() {
        let r = routes(&[("/v1/payments/...", "payments")]);
        assert_eq!(target(&r, "/v1/payments").as_deref(), Some("payments"));
        assert_eq!(target(&r, "/v1/payments/").as_deref(), Some("payments"));
        assert_eq!(target(&r, "/v1/payments/pay_1/capture").as_deref(), Some("payments"));
        assert_eq!(target(&r, "/v1/paymentsx"), None);
        assert_eq!(target(&r, "/v1"), None);
    }

    #[test]
    fn most_specific_wins() {
        let r = routes(&[
            ("/...", "root"),
            ("/v1/...", "v1"),
            ("/v1/payments/...", "payments"),
            ("/v1/payments/special", "exact"),
        ]);
        assert_eq!(target(&r, "/v1/payments/pay_1").as_deref(), Some("payments"));
        assert_eq!(target(&r, "/v1/payments/special").as_deref(), Some("exact"));
        assert_eq!(target(&r, "/v1/customers").as_deref(), Some("v1"));
        assert_eq!(target(&r, "/health").as_deref(), Some("root"));
        assert_eq!(target(&r, "/").as_deref(), Some("root"));
    }

    #[test]
    fn exact_routes_match_exactly() {
        let r = routes(&[("/hello", "h")]);
        assert_eq!(target(&r, "/hello").as_deref(), Some("h"));
        assert_eq!(target(&r, "/hello/x"), None);
    }

    #[test]
    fn path_info() {
        let p = RoutePattern::parse("/v1/payments/...");
        assert_eq!(p.path_info("/v1/payments/pay_1"), "/pay_1");
        assert_eq!(p.path_info("/v1/payments"), "");
    }

    #[test]
    fn parses_the_project_manifest() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
        let m = Manifest::load(&path).unwrap();
        assert!(m.routes.iter().any(|r| r.raw == "/v1/payments/..."));
        let p = &m.components["payments"];
        assert_eq!(p.sqlite_databases, vec!["default"]);
        assert!(p.source.starts_with(&m.dir));
    }
}
