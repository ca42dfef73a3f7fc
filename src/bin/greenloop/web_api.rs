//! Typed JSON, uploads and CORS: `POST /api/items`, `GET /api/items/{id}`
//! (an in-memory store shared by every worker) and `POST /upload`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use greenloop::http::multipart::Multipart;
use greenloop::http::{Json, Rejection, Request, Router, StatusCode, TypedRequest, get, header, post};
use serde::{Deserialize, Serialize};

/// Items the store keeps; the oldest go first when it is full.
const MAX_ITEMS: usize = 10_000;
/// The longest item name, in characters.
const MAX_NAME: usize = 200;
/// Parts `/upload` takes.
const MAX_PARTS: usize = 20;

/// `POST /api/items`'s body.
#[derive(Deserialize)]
struct NewItem {
    name: String,
}

/// An item as stored and answered.
#[derive(Serialize, Clone)]
struct Item {
    id: u64,
    name: String,
}

/// The items, shared by the workers (a lock held only to insert or look up).
#[derive(Default)]
struct Store {
    next_id: u64,
    items: BTreeMap<u64, Item>,
}

/// The routes; `max_body` (the server's body limit) bounds an upload.
pub fn routes(router: Router, max_body: u64) -> Router {
    let store = Arc::new(Mutex::new(Store::default()));
    let find = store.clone();
    router
        .route("/api/items", post(move |req: Request| create(req, &store)))
        .route("/api/items/{id}", get(move |req: Request| show(req, &find)))
        .route("/upload", post(move |req: Request| upload(req, max_body)))
}

/// `POST /api/items` `{"name": "..."}`: 201 with the item and its `Location`.
fn create(mut req: Request, store: &Mutex<Store>) -> Result<impl greenloop::http::IntoResponse + use<>, Rejection> {
    let new: NewItem = req.json()?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Rejection::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("name must be 1 to {MAX_NAME} characters"),
        ));
    }
    let item = {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        s.next_id += 1;
        let item = Item { id: s.next_id, name: name.to_string() };
        if s.items.len() >= MAX_ITEMS {
            s.items.pop_first();
        }
        s.items.insert(item.id, item.clone());
        item
    };
    let location = format!("/api/items/{}", item.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(item)))
}

/// `GET /api/items/{id}`: the item, or 404.
fn show(req: Request, store: &Mutex<Store>) -> Result<Json<Item>, Rejection> {
    let id: u64 = req.param_as("id")?;
    let s = store.lock().unwrap_or_else(|p| p.into_inner());
    match s.items.get(&id) {
        Some(item) => Ok(Json(item.clone())),
        None => Err(Rejection::new(StatusCode::NOT_FOUND, format!("no item {id}"))),
    }
}

/// One part of an upload, as `/upload` lists it.
#[derive(Serialize)]
struct PartSummary {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

/// `POST /upload` (`multipart/form-data`): each part's name, file name,
/// size and SHA-256, read as it arrives (nothing kept in memory).
fn upload(mut req: Request, max_body: u64) -> Result<Json<serde_json::Value>, Rejection> {
    let mut form =
        Multipart::from_request(&mut req)?.max_parts(MAX_PARTS).max_part_bytes(max_body).max_total_bytes(max_body);
    let mut parts = Vec::new();
    while let Some(mut part) = form.next_part()? {
        let mut digest = Digest::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = part.read(&mut buf)?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
            size += n as u64;
        }
        parts.push(PartSummary {
            name: part.name().to_string(),
            filename: part.filename().map(str::to_string),
            content_type: part.content_type().map(str::to_string),
            size,
            sha256: digest.finish(),
        });
    }
    Ok(Json(serde_json::json!({ "parts": parts })))
}

/// SHA-256 of a part, with the `upload-sha256` feature.
struct Digest {
    #[cfg(feature = "upload-sha256")]
    hasher: sha2::Sha256,
}

impl Digest {
    fn new() -> Digest {
        Digest {
            #[cfg(feature = "upload-sha256")]
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
        }
    }

    #[cfg_attr(not(feature = "upload-sha256"), allow(unused_variables))]
    fn update(&mut self, bytes: &[u8]) {
        #[cfg(feature = "upload-sha256")]
        sha2::Digest::update(&mut self.hasher, bytes);
    }

    /// Lowercase hex, or `None` in a build without the digest.
    fn finish(self) -> Option<String> {
        #[cfg(feature = "upload-sha256")]
        {
            let sum = sha2::Digest::finalize(self.hasher);
            Some(sum.iter().map(|b| format!("{b:02x}")).collect())
        }
        #[cfg(not(feature = "upload-sha256"))]
        None
    }
}
