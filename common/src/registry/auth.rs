//! The registry's challenge (`WWW-Authenticate`) and what answers it:
//! Basic credentials, or a Bearer token from the realm the challenge names
//! (Docker's token flow), cached per scope until shortly before it expires.

use super::creds::Credentials;
use super::RegistryError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        if scheme.eq_ignore_ascii_case("basic") {
            Some(Challenge::Basic)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            })
        } else {
            None
        }
    }
}

/// `k=v, k="quoted \" v"` pairs (RFC 7235 auth-params).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
}

/// What a host wants, learned from its first challenge, and the tokens
/// it has handed out.
pub struct Auth {
    pub host: String,
    creds: Option<Credentials>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// Tokens are renewed this long before they expire, so none runs out in
/// the middle of a request.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

impl Auth {
    pub fn new(host: &str, creds: Option<Credentials>) -> Auth {
        Auth {
            host: host.to_string(),
            creds,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_challenge(&self, c: Challenge) {
        *self.challenge.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
    }

    pub fn challenge(&self) -> Option<Challenge> {
        self.challenge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the token for `scopes`, after the registry refused it.
    pub fn forget(&self, scopes: &[String]) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&scopes.join(" "));
    }

    /// The Authorization header for a request needing `scopes`; a token is
    /// fetched with `fetch` when none is cached.
    pub fn header(
        &self,
        scopes: &[String],
        fetch: impl FnOnce(
            &str,
            Option<&str>,
            &[String],
            Option<&Credentials>,
        ) -> Result<(String, Duration), RegistryError>,
    ) -> Result<Option<String>, RegistryError> {
        match self.challenge() {
            None => Ok(None),
            Some(Challenge::Basic) => match &self.creds {
                Some(c) if !c.is_identity_token() => Ok(Some(c.basic_header())),
                Some(_) => Err(RegistryError::Auth(format!(
                    "{}: asks for a password, and the credentials found are an identity token",
                    self.host
                ))),
                None => Err(RegistryError::Auth(format!(
                    "{}: authentication required (give --creds USER:PASSWORD or log in with an auth file)",
                    self.host
                ))),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scopes.join(" ");
                let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((t, until)) = tokens.get(&key) {
                    if Instant::now() + EXPIRY_MARGIN < *until {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                // The lock is held across the fetch on purpose: parallel
                // blobs of one repository share one token request.
                let (token, life) = fetch(&realm, service.as_deref(), scopes, self.creds.as_ref())?;
                tokens.insert(key, (token.clone(), Instant::now() + life));
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}

/// Reads a token response: `token` or `access_token`, and `expires_in`
/// (60 s when absent, as the spec says).
pub fn parse_token_response(body: &[u8]) -> Result<(String, Duration), RegistryError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| RegistryError::Auth(format!("token response is not JSON: {e}")))?;
    let token = v["token"]
        .as_str()
        .or_else(|| v["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| RegistryError::Auth("token response holds no token".into()))?;
    // Bounded: a server that says "forever" must not overflow the clock.
    let secs = v["expires_in"].as_u64().unwrap_or(60).clamp(1, 86_400);
    Ok((token.to_string(), Duration::from_secs(secs)))
}

/// The token scope for a repository and actions (`repository:NAME:pull,push`).
pub fn scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_docker_hub_and_distribution_send_them() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(r#"bearer realm=http://t/x, service = "a\"b""#),
            Some(Challenge::Bearer {
                realm: "http://t/x".into(),
                service: Some("a\"b".into()),
                scope: None,
            })
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Negotiate abc"), None);
    }

    #[test]
    fn tokens_are_cached_per_scope() {
        let a = Auth::new("h", None);
        a.set_challenge(Challenge::Bearer {
            realm: "http://t".into(),
            service: None,
            scope: None,
        });
        let pull = vec![scope("r", "pull")];
        let push = vec![scope("r", "pull,push")];
        let mut n = 0;
        let mut get = |s: &[String]| {
            a.header(s, |_, _, _, _| {
                n += 1;
                Ok((format!("t{n}"), Duration::from_secs(300)))
            })
            .unwrap()
        };
        assert_eq!(get(&pull).as_deref(), Some("Bearer t1"));
        assert_eq!(get(&pull).as_deref(), Some("Bearer t1"));
        assert_eq!(get(&push).as_deref(), Some("Bearer t2"));
        a.forget(&pull);
        assert_eq!(get(&pull).as_deref(), Some("Bearer t3"));
    }

    #[test]
    fn token_responses_take_either_field() {
        let (t, life) = parse_token_response(br#"{"access_token":"abc"}"#).unwrap();
        assert_eq!((t.as_str(), life), ("abc", Duration::from_secs(60)));
        let (t, life) = parse_token_response(br#"{"token":"x","expires_in":300}"#).unwrap();
        assert_eq!((t.as_str(), life.as_secs()), ("x", 300));
        assert!(parse_token_response(b"{}").is_err());
        let (_, life) =
            parse_token_response(br#"{"token":"x","expires_in":18446744073709551615}"#).unwrap();
        assert_eq!(
            life.as_secs(),
            86_400,
            "a day at most: the clock must not overflow"
        );
    }
}
