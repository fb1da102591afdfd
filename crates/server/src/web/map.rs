//! The map of search results (issue 17 point 2): where its tiles come from (configurable,
//! OpenStreetMap's standard tiles by default) and the Content-Security-Policy that lets
//! pages load those tiles and nothing else from elsewhere. The list of results never needs
//! the map: without JavaScript or tiles it is the same page.

/// The tile server of the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapTiles {
    /// A Leaflet URL template (`https://tile.example/{z}/{x}/{y}.png`, `{s}` for the
    /// subdomains); empty: no map.
    pub url: String,
    /// Credit the tiles' licence asks for, shown on the map (plain text).
    pub attribution: String,
}

impl Default for MapTiles {
    fn default() -> Self {
        Self {
            url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            attribution: "© OpenStreetMap contributors".into(),
        }
    }
}

impl MapTiles {
    /// The `img-src` source of the tiles: the template's scheme and host (a `{s}` subdomain
    /// becomes `*`). None when there is no map or the template is not an http(s) URL whose
    /// host is plain (then the map stays off rather than widen the policy).
    pub fn origin(&self) -> Option<String> {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .filter(|(s, _)| matches!(*s, "https" | "http"))?;
        let host = rest.split('/').next().unwrap_or("");
        let host = host
            .strip_prefix("{s}.")
            .map_or(host.to_owned(), |h| format!("*.{h}"));
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':');
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        (!bare.is_empty() && bare.chars().all(plain)).then(|| format!("{scheme}://{host}"))
    }

    /// The map is offered when its tiles can be allowed.
    pub fn enabled(&self) -> bool {
        self.origin().is_some()
    }
}

/// Scripts, styles and images only from careslot (plus the map's tiles); no inline script;
/// no framing.
pub fn content_security_policy(tiles: &MapTiles) -> String {
    let img = match tiles.origin() {
        Some(o) => format!("'self' data: {o}"),
        None => "'self' data:".into(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src {img}; \
connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'; object-src 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(url: &str) -> MapTiles {
        MapTiles {
            url: url.into(),
            attribution: String::new(),
        }
    }

    #[test]
    fn the_policy_allows_the_tile_host_only() {
        let csp = content_security_policy(&MapTiles::default());
        assert!(csp.contains("img-src 'self' data: https://tile.openstreetmap.org;"));
        assert_eq!(
            tiles("https://{s}.tile.example.org:8443/{z}/{x}/{y}.png").origin(),
            Some("https://*.tile.example.org:8443".into())
        );
        assert_eq!(tiles("").origin(), None);
        assert_eq!(tiles("javascript:alert(1)").origin(), None);
        assert_eq!(tiles("https://a.example; script-src */x").origin(), None);
        assert!(content_security_policy(&tiles("")).contains("img-src 'self' data:;"));
    }
}
