#include "errors.hpp"

namespace confab::proto {

std::string_view to_string(DecodeError e) noexcept {
    switch (e) {
    case DecodeError::frame_too_large: return "frame too large";
    case DecodeError::empty_frame: return "empty frame";
    case DecodeError::unknown_type: return "unknown message type";
    case DecodeError::truncated: return "truncated field";
    case DecodeError::trailing_bytes: return "trailing bytes after the last field";
    case DecodeError::bad_utf8: return "invalid UTF-8 in a string field";
    case DecodeError::too_many_entries: return "too many list entries";
    }
    return "unknown decode error";
}

std::string_view to_string(Status s) noexcept {
    switch (s) {
    case Status::ok: return "ok";
    case Status::ok_stored: return "stored for delivery at next login";
    case Status::ok_partial: return "not delivered to some recipients";
    case Status::bad_request: return "malformed request";
    case Status::unsupported_version: return "unsupported protocol version";
    case Status::frame_too_large: return "frame too large";
    case Status::not_logged_in: return "not logged in";
    case Status::wrong_state: return "not valid at this point of the session";
    case Status::unknown_user: return "unknown user";
    case Status::self_target: return "cannot do that to yourself";
    case Status::blocked_by_recipient: return "the recipient has blocked you";
    case Status::already_blocked: return "already blocked";
    case Status::not_blocked: return "not blocked";
    case Status::invalid_name: return "invalid user name";
    case Status::invalid_text: return "invalid text";
    case Status::user_offline: return "user is offline";
    case Status::no_private_endpoint: return "user cannot accept private chats";
    case Status::mailbox_full: return "recipient's mailbox is full";
    case Status::storage_failed: return "message could not be stored";
    case Status::invalid_argument: return "invalid argument";
    case Status::no_private_session: return "no private session with that user";
    case Status::rate_limited: return "sending too fast";
    case Status::output_overflow: return "too much unread output";
    case Status::login_timeout: return "no login before the deadline";
    case Status::server_busy: return "server busy";
    case Status::permission_denied: return "permission denied";
    case Status::unavailable: return "service temporarily unavailable";
    }
    return "unknown status";
}

Status status_for(DecodeError e) noexcept {
    return e == DecodeError::frame_too_large ? Status::frame_too_large : Status::bad_request;
}

} // namespace confab::proto
