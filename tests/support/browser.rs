//! A test browser for single sign-on: follows the redirects of Synapse and the OpenID provider
//! by hand, keeps their cookies, signs in at the provider's authorize page by typing a user
//! name, and "clicks" the link Synapse shows before it sends a login token to an address it
//! does not trust.

use std::collections::HashMap;

pub struct Browser {
    agent: ureq::Agent,
    /// Cookies per host:port.
    cookies: HashMap<String, Vec<(String, String)>>,
}

/// One answer: status, where it points, and the body.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .max_redirects(0)
                .http_status_as_error(false)
                .proxy(None)
                .build()
                .new_agent(),
            cookies: HashMap::new(),
        }
    }

    pub fn get(&mut self, url: &str) -> Page {
        let mut request = self.agent.get(url);
        if let Some(cookie) = self.cookie_header(url) {
            request = request.header("Cookie", cookie);
        }
        let response = request
            .call()
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        self.page(url, response)
    }

    pub fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self.agent.post(url);
        if let Some(cookie) = self.cookie_header(url) {
            request = request.header("Cookie", cookie);
        }
        let response = request
            .send_form(form.iter().copied())
            .unwrap_or_else(|err| panic!("POST {url}: {err}"));
        self.page(url, response)
    }

    /// POSTs a JSON body (a page's GraphQL call), with the cookies of the host.
    pub fn post_json(&mut self, url: &str, body: &serde_json::Value) -> Page {
        let mut request = self.agent.post(url);
        if let Some(cookie) = self.cookie_header(url) {
            request = request.header("Cookie", cookie);
        }
        let response = request
            .send_json(body)
            .unwrap_or_else(|err| panic!("POST {url}: {err}"));
        self.page(url, response)
    }

    /// Goes from the single sign-on URL a command printed to the address Synapse sends the
    /// browser back to (with `loginToken`), signing in at the provider as `sub`. Does not visit
    /// that address.
    pub fn sign_in_until_callback(&mut self, sso_url: &str, sub: &str) -> String {
        let to_provider = self.get(sso_url);
        assert_eq!(to_provider.status, 302, "Synapse: {}", to_provider.body);
        let authorize = to_provider
            .location
            .expect("Synapse points at the provider");
        let to_synapse = self.post_form(&authorize, &[("sub", sub)]);
        assert_eq!(to_synapse.status, 302, "provider: {}", to_synapse.body);
        let callback = to_synapse
            .location
            .expect("the provider points back at Synapse");
        let back = self.get(&callback);
        match back.status {
            // Whitelisted in sso.client_whitelist: straight back.
            302 => back.location.expect("Synapse points back at the listener"),
            // Otherwise Synapse asks first; continue as a user would.
            200 => continue_link(&back.body)
                .unwrap_or_else(|| panic!("no continue link on Synapse's page: {}", back.body)),
            other => panic!("Synapse's callback answered {other}: {}", back.body),
        }
    }

    /// The whole sign-in, ending at the command's listener; returns its page.
    pub fn sign_in(&mut self, sso_url: &str, sub: &str) -> Page {
        let callback = self.sign_in_until_callback(sso_url, sub);
        self.get(&callback)
    }

    fn cookie_header(&self, url: &str) -> Option<String> {
        let cookies = self.cookies.get(&host_of(url))?;
        Some(
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn page(&mut self, url: &str, mut response: ureq::http::Response<ureq::Body>) -> Page {
        let host = host_of(url);
        for header in response.headers().get_all("set-cookie") {
            let Some((name, rest)) = header.to_str().unwrap_or_default().split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default().to_owned();
            let jar = self.cookies.entry(host.clone()).or_default();
            jar.retain(|(known, _)| known != name);
            if !value.is_empty() {
                jar.push((name.to_owned(), value));
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(|location| absolute(url, location));
        Page {
            status: response.status().as_u16(),
            location,
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }
}

fn host_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("a URL");
    format!(
        "{}:{}",
        parsed.host_str().unwrap_or_default(),
        parsed.port_or_known_default().unwrap_or_default()
    )
}

pub fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .and_then(|base| base.join(location))
        .map(String::from)
        .unwrap_or_else(|_| location.to_owned())
}

/// The first link on a page to the loopback listener, unescaped.
fn continue_link(html: &str) -> Option<String> {
    let start = html.find("href=\"http://127.0.0.1:")? + "href=\"".len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}
