//! What the device reads back from its local state: the queue cursor, its
//! chats and where each stands, their history, the message in flight, and
//! the entries it could not open.

use std::collections::HashMap;

use sqlx::Row;

use super::{
    ChatRequest, ChatSummary, FrankProof, LastMessage, Local, Outgoing, Standing, StoredMessage,
    Unopened,
};
use crate::error::Result;

/// A stored message's proof, if it has a whole one.
fn proof_of(r: &sqlx::sqlite::SqliteRow) -> std::result::Result<Option<FrankProof>, sqlx::Error> {
    let body: Option<String> = r.try_get(6)?;
    let key32 = |i: usize| -> std::result::Result<Option<[u8; 32]>, sqlx::Error> {
        Ok(r.try_get::<Option<Vec<u8>>, _>(i)?
            .and_then(|v| v.try_into().ok()))
    };
    Ok(match (body, key32(7)?, key32(8)?, key32(9)?) {
        (Some(body), Some(key), Some(commitment), Some(binding)) => Some(FrankProof {
            body,
            key,
            commitment,
            binding,
        }),
        _ => None,
    })
}

impl Local {
    pub async fn cursor(&self) -> Result<u64> {
        Ok(self
            .meta_string("cursor")
            .await?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    pub async fn chat_ids(&self) -> Result<Vec<(String, Option<String>, bool)>> {
        let rows =
            sqlx::query("SELECT chat_id, name, active FROM chats ORDER BY joined_at, chat_id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(|e| self.err(e))?,
                    r.try_get(1).map_err(|e| self.err(e))?,
                    r.try_get::<i64, _>(2).map_err(|e| self.err(e))? != 0,
                ))
            })
            .collect()
    }

    /// Each chat's standing with this person.
    pub async fn standings(&self) -> Result<HashMap<String, Standing>> {
        let rows = sqlx::query("SELECT chat_id, request_from, declined FROM chats")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                let chat: String = r.try_get(0).map_err(|e| self.err(e))?;
                let from: Option<String> = r.try_get(1).map_err(|e| self.err(e))?;
                let declined = r.try_get::<i64, _>(2).map_err(|e| self.err(e))? != 0;
                let standing = match (from, declined) {
                    (_, true) => Standing::Declined,
                    (Some(from), false) => Standing::Request { from },
                    (None, false) => Standing::Accepted,
                };
                Ok((chat, standing))
            })
            .collect()
    }

    /// The chats waiting for this person to accept or decline them.
    pub async fn requests(&self) -> Result<Vec<ChatRequest>> {
        let rows = sqlx::query(
            "SELECT c.chat_id, c.name, c.request_from, COUNT(m.group_seq), MAX(m.server_time) \
             FROM chats c LEFT JOIN messages m ON m.chat_id = c.chat_id \
             WHERE c.request_from IS NOT NULL AND c.declined = 0 \
             GROUP BY c.chat_id, c.name, c.request_from, c.joined_at \
             ORDER BY c.joined_at, c.chat_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                Ok(ChatRequest {
                    chat: r.try_get(0).map_err(|e| self.err(e))?,
                    name: r.try_get(1).map_err(|e| self.err(e))?,
                    from: r.try_get(2).map_err(|e| self.err(e))?,
                    messages: r.try_get::<i64, _>(3).map_err(|e| self.err(e))? as u64,
                    last_time: r
                        .try_get::<Option<i64>, _>(4)
                        .map_err(|e| self.err(e))?
                        .map(|t| t as u64),
                })
            })
            .collect()
    }

    /// The normal chats: not requests waiting for an answer, not declined.
    /// The chats this person sees, oldest first, each with its latest
    /// message and how many from others came after the last one read.
    pub async fn chats(&self, my_device: &str) -> Result<Vec<ChatSummary>> {
        let rows = sqlx::query(
            "SELECT c.chat_id, c.name, c.active, \
             (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.chat_id), \
             (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.chat_id \
                AND m.group_seq > c.read_up_to AND m.sender_device <> ?), \
             l.sender_handle, l.text, l.server_time, l.sender_name \
             FROM chats c LEFT JOIN messages l ON l.chat_id = c.chat_id AND l.group_seq = \
               (SELECT MAX(group_seq) FROM messages m WHERE m.chat_id = c.chat_id) \
             WHERE c.request_from IS NULL AND c.declined = 0 \
             ORDER BY c.joined_at, c.chat_id",
        )
        .bind(my_device)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                let last = match (
                    r.try_get::<Option<String>, _>(5),
                    r.try_get::<Option<String>, _>(6),
                    r.try_get::<Option<i64>, _>(7),
                ) {
                    (Ok(Some(sender)), Ok(Some(text)), Ok(Some(at))) => Some(LastMessage {
                        sender,
                        sender_name: r.try_get(8).map_err(|e| self.err(e))?,
                        text,
                        server_time: at as u64,
                    }),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err(self.err(e)),
                    _ => None,
                };
                Ok(ChatSummary {
                    chat: r.try_get(0).map_err(|e| self.err(e))?,
                    name: r.try_get(1).map_err(|e| self.err(e))?,
                    active: r.try_get::<i64, _>(2).map_err(|e| self.err(e))? != 0,
                    messages: r.try_get::<i64, _>(3).map_err(|e| self.err(e))? as u64,
                    unread: r.try_get::<i64, _>(4).map_err(|e| self.err(e))? as u64,
                    last_time: last.as_ref().map(|l| l.server_time),
                    last,
                })
            })
            .collect()
    }

    /// Notes that this person read a chat up to `seq` (never back).
    pub async fn mark_read(&self, chat: &str, seq: u64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE chats SET read_up_to = MAX(read_up_to, ?) WHERE chat_id = ?")
                .bind(seq as i64)
                .bind(chat)
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn history(&self, chat: &str) -> Result<Vec<StoredMessage>> {
        let rows = sqlx::query(
            "SELECT chat_id, group_seq, sender_handle, sender_device, text, server_time, \
             body, franking_key, commitment, binding, sender_name FROM messages \
             WHERE chat_id = ? ORDER BY group_seq",
        )
        .bind(chat)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                let proof = proof_of(&r).map_err(|e| self.err(e))?.map(Box::new);
                // What a message carries is read from the body it committed
                // to, so the history cannot show a file the body does not.
                let file = proof
                    .as_ref()
                    .and_then(|p| crate::local::Attachment::in_body(&p.body));
                Ok(StoredMessage {
                    chat: r.try_get(0).map_err(|e| self.err(e))?,
                    seq: r.try_get::<i64, _>(1).map_err(|e| self.err(e))? as u64,
                    sender: r.try_get(2).map_err(|e| self.err(e))?,
                    sender_name: r.try_get(10).map_err(|e| self.err(e))?,
                    sender_device: r.try_get(3).map_err(|e| self.err(e))?,
                    text: r.try_get(4).map_err(|e| self.err(e))?,
                    server_time: r.try_get::<i64, _>(5).map_err(|e| self.err(e))? as u64,
                    structured: proof
                        .as_ref()
                        .and_then(|p| kizuna_wire::Structured::in_body(&p.body))
                        .map(Box::new),
                    proof,
                    file,
                })
            })
            .collect()
    }

    /// The chats this device left, each with the place of its departure in
    /// the chat's order: what came before it is still its to read.
    pub async fn departures(&self) -> Result<HashMap<String, u64>> {
        let rows = sqlx::query("SELECT chat_id, left_at FROM chats WHERE left_at IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(|e| self.err(e))?,
                    r.try_get::<i64, _>(1).map_err(|e| self.err(e))? as u64,
                ))
            })
            .collect()
    }

    /// The message in flight, if one is.
    pub async fn outbox(&self) -> Result<Option<Outgoing>> {
        let row = sqlx::query(
            "SELECT client_id, chat_id, content, message, commitment, franking_key FROM outbox",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(r) = row else { return Ok(None) };
        let e = |e| self.err(e);
        let key32 = |v: Vec<u8>| <[u8; 32]>::try_from(v).map_err(|_| self.err("damaged outbox"));
        Ok(Some(Outgoing {
            client_id: r.try_get(0).map_err(e)?,
            chat: r.try_get(1).map_err(e)?,
            content: r.try_get(2).map_err(e)?,
            message: r.try_get(3).map_err(e)?,
            commitment: key32(r.try_get(4).map_err(e)?)?,
            franking_key: key32(r.try_get(5).map_err(e)?)?,
        }))
    }

    /// The entries of a chat this device could not open, oldest first.
    pub async fn unopened(&self, chat: &str) -> Result<Vec<Unopened>> {
        let rows = sqlx::query(
            "SELECT chat_id, group_seq, what, sender_handle, sender_device, server_time, reason, \
             payload FROM unopened WHERE chat_id = ? ORDER BY group_seq",
        )
        .bind(chat)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                let e = |e| self.err(e);
                Ok(Unopened {
                    chat: r.try_get(0).map_err(e)?,
                    seq: r.try_get::<i64, _>(1).map_err(e)? as u64,
                    what: r.try_get(2).map_err(e)?,
                    sender: r.try_get(3).map_err(e)?,
                    sender_device: r.try_get(4).map_err(e)?,
                    server_time: r.try_get::<i64, _>(5).map_err(e)? as u64,
                    reason: r.try_get(6).map_err(e)?,
                    payload: r.try_get(7).map_err(e)?,
                })
            })
            .collect()
    }
}
