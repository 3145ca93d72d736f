//! A static file server on a free loopback port, for ADD of URLs: each
//! path answers with its bytes and a fixed Last-Modified, and counts how
//! often it was asked for.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct FileServer {
    /// http://127.0.0.1:PORT
    pub url: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

/// Last-Modified of every file: Tue, 14 Nov 2023 22:13:20 GMT.
pub const LAST_MODIFIED: i64 = 1_700_000_000;

impl FileServer {
    pub fn start(files: &[(&str, &[u8])]) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::new(Mutex::new(
            files
                .iter()
                .map(|(p, d)| (p.to_string(), d.to_vec()))
                .collect(),
        ));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (f, h) = (files.clone(), hits.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    continue;
                }
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).map(|n| n == 0).unwrap_or(true) || l == "\r\n" {
                        break;
                    }
                }
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                *h.lock().unwrap().entry(path.clone()).or_default() += 1;
                let body = f.lock().unwrap().get(&path).cloned();
                let head = match &body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\n\r\n",
                        b.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                };
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body.as_deref().unwrap_or_default());
            }
        });
        FileServer { url, hits, files }
    }

    /// How many times PATH was fetched.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Replaces (or adds) a file.
    pub fn put(&self, path: &str, data: &[u8]) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_string(), data.to_vec());
    }
}
