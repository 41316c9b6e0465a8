//! Endpoint URLs, validated on create and update: `http` or `https`, a host, no credentials, no fragment, at
//! most [`MAX_URL_LEN`] characters, and no literal address the SSRF guard refuses. (A name is checked when a
//! delivery resolves it: DNS may answer differently then.)

use reqwest::Url;

use crate::ssrf::{AllowList, check_host};

pub const MAX_URL_LEN: usize = 2048;

/// The URL, normalised, or why it cannot be an endpoint's.
pub fn parse(raw: &str, allowed: &AllowList) -> Result<Url, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.chars().count() > MAX_URL_LEN {
        return Err(format!("1 to {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be https or http".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("a host is required".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the URL (the signature authenticates the sender)".into());
    }
    if url.fragment().is_some() {
        return Err("a fragment is never sent; remove it".into());
    }
    check_host(allowed, &url).map_err(|refused| format!("{refused} (not allowed by WEBHOOK_ALLOWED_CIDRS)"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn good_urls_pass_and_bad_ones_say_why() {
        let none = AllowList::default();
        assert_eq!(
            parse(" https://hooks.example.com/in?x=1 ", &none).unwrap().as_str(),
            "https://hooks.example.com/in?x=1"
        );
        for (raw, why) in [
            ("", "characters"),
            ("ftp://example.com/", "scheme"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://token@example.com/", "credentials"),
            ("https://example.com/#frag", "fragment"),
            ("not a url", "not a URL"),
            ("http://169.254.169.254/latest", "link-local"),
            ("http://10.0.0.1/", "private"),
            ("http://[::1]:9000/", "loopback"),
        ] {
            let error = parse(raw, &none).err().unwrap_or_else(|| panic!("{raw} passed"));
            assert!(error.contains(why), "{raw}: {error}");
        }
        assert!(parse(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN)), &none).is_err());
        let local: AllowList = "127.0.0.0/8,::1/128".parse().unwrap();
        assert!(parse("http://127.0.0.1:9000/hook", &local).is_ok());
        assert!(parse("http://[::1]:9000/hook", &local).is_ok());
    }
}
