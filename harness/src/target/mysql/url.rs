//! Parsing of live-server URLs: `mysql://USER[:PASS]@HOST:PORT[/DB]`.
//!
//! User, password and database may be percent-encoded (`%40` for `@`).
//! The user may be left out (`mysql://127.0.0.1:4000`) and then is `root`,
//! as in mysql-tester. The port is required, because TiDB (4000) and MySQL
//! (3306) differ and a guessed default would connect to the wrong server.

use std::fmt;

/// A parsed server URL.
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlUrl {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password; empty when the URL has none.
    pub password: String,
    /// Default database; empty for none.
    pub database: String,
}

/// An invalid server URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server URL '{url}': {part} {reason}; expected mysql://USER[:PASS]@HOST:PORT[/DB]")]
pub struct UrlError {
    /// The URL with any password replaced by `***`.
    pub url: String,
    /// Which part is wrong (`scheme`, `host`, `port`, ...).
    pub part: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl MysqlUrl {
    /// Parses `mysql://USER[:PASS]@HOST:PORT[/DB]`.
    pub fn parse(url: &str) -> Result<MysqlUrl, UrlError> {
        let fail = |part: &'static str, reason: String| UrlError {
            url: redact_password(url),
            part,
            reason,
        };

        let Some(rest) = strip_scheme(url) else {
            let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
            let reason = if scheme.is_empty() {
                "is missing".to_string()
            } else {
                format!("'{scheme}' is not supported, use mysql")
            };
            return Err(fail("scheme", reason));
        };

        if rest.contains('?') || rest.contains('#') {
            return Err(fail(
                "query",
                "parameters and fragments are not supported".to_string(),
            ));
        }

        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };

        let (user, password) = match userinfo {
            None => ("root".to_string(), String::new()),
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user).map_err(|reason| fail("user", reason))?;
                if user.is_empty() {
                    return Err(fail("user", "is empty before '@'".to_string()));
                }
                let password =
                    percent_decode(password).map_err(|reason| fail("password", reason))?;
                (user, password)
            }
        };

        let (host, port) =
            split_host_port(hostport).map_err(|(part, reason)| fail(part, reason))?;

        if path.contains('/') {
            return Err(fail(
                "database",
                format!("'{path}' contains '/'; give one database name"),
            ));
        }
        let database = percent_decode(path).map_err(|reason| fail("database", reason))?;

        Ok(MysqlUrl {
            host,
            port,
            user,
            password,
            database,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Shows everything but the password.
impl fmt::Debug for MysqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("database", &self.database)
            .finish()
    }
}

fn strip_scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    scheme.eq_ignore_ascii_case("mysql").then_some(rest)
}

fn split_host_port(hostport: &str) -> Result<(String, u16), (&'static str, String)> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(("host", format!("'{hostport}' has no closing ']'")));
        };
        let port = after.strip_prefix(':').unwrap_or("");
        (host, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (hostport, ""),
        }
    };

    if host.is_empty() {
        return Err(("host", "is missing".to_string()));
    }
    if port.is_empty() {
        return Err((
            "port",
            format!(
                "is missing after host '{host}'; write HOST:PORT, e.g. 127.0.0.1:4000 for TiDB"
            ),
        ));
    }
    let port = match port.parse::<u16>() {
        Ok(0) | Err(_) => {
            return Err(("port", format!("'{port}' is not a number from 1 to 65535")));
        }
        Ok(port) => port,
    };
    Ok((host.to_string(), port))
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'%' {
            decoded.push(bytes[index]);
            index += 1;
            continue;
        }
        let escape = bytes.get(index + 1..index + 3);
        let value = escape
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match value {
            Some(value) => decoded.push(value),
            None => return Err("has a '%' not followed by two hex digits".to_string()),
        }
        index += 3;
    }
    String::from_utf8(decoded).map_err(|_| "is not UTF-8 after percent-decoding".to_string())
}

/// Replaces the password of `mysql://user:password@...` with `***`, so that
/// error messages and logs never show it.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let url = MysqlUrl::parse("mysql://app:s%40cret@db.example:4000/test").unwrap();
        assert_eq!(url.host, "db.example");
        assert_eq!(url.port, 4000);
        assert_eq!(url.user, "app");
        assert_eq!(url.password, "s@cret");
        assert_eq!(url.database, "test");
        assert_eq!(url.address(), "db.example:4000");
    }

    #[test]
    fn user_defaults_to_root() {
        let url = MysqlUrl::parse("mysql://127.0.0.1:3306").unwrap();
        assert_eq!(url.user, "root");
        assert_eq!(url.password, "");
        assert_eq!(url.database, "");
    }

    #[test]
    fn ipv6_host() {
        let url = MysqlUrl::parse("mysql://root@[::1]:4000/").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.address(), "[::1]:4000");
    }

    #[test]
    fn bad_urls_name_the_part() {
        let cases = [
            ("127.0.0.1:4000", "scheme"),
            ("postgres://root@h:5432", "scheme"),
            ("mysql://root@h", "port"),
            ("mysql://root@h:", "port"),
            ("mysql://root@h:0", "port"),
            ("mysql://root@h:70000", "port"),
            ("mysql://root@h:4x", "port"),
            ("mysql://root@:4000", "host"),
            ("mysql://root@[::1:4000", "host"),
            ("mysql://@h:4000", "user"),
            ("mysql://ro%zzot@h:4000", "user"),
            ("mysql://root:%4@h:4000", "password"),
            ("mysql://root@h:4000/a/b", "database"),
            ("mysql://root@h:4000/db?ssl=true", "query"),
        ];
        for (url, part) in cases {
            let err = MysqlUrl::parse(url).expect_err(url);
            assert_eq!(err.part, part, "{url}: {err}");
        }
    }

    #[test]
    fn errors_hide_the_password() {
        let err = MysqlUrl::parse("mysql://root:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("mysql://root:***@h"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let url = MysqlUrl::parse("mysql://root:hunter2@h:1").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
