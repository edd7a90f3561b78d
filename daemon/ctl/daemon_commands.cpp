#include "daemon_commands.hpp"

#include "json.hpp"

#include "proto/parse_number.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace confab::ctl {

namespace {

void print(const std::vector<std::string>& lines) {
    for (const auto& l : lines) std::puts(l.c_str());
}

// The words from `from` on, joined by single spaces (a kick reason, a wall text).
std::string join_from(const std::vector<std::string>& words, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < words.size(); ++i) {
        if (i > from) out += ' ';
        out += words[i];
    }
    return out;
}

void want_args(const Context& ctx, std::size_t min, std::size_t max) {
    if (ctx.args.size() < min) throw UsageError("missing argument");
    if (ctx.args.size() > max) throw UsageError(fmt::format("unexpected argument '{}'", ctx.args[max]));
}

template <class Reply>
const Reply& expect(const proto::Message& m) {
    if (const auto* r = std::get_if<Reply>(&m)) return *r;
    throw ControlError(ControlError::Kind::unreachable,
                       fmt::format("unexpected reply {} from the daemon", proto::to_string(proto::type_of(m))));
}

// Kick, lock, unlock, reload and wall are answered by a Result.
int run_simple(Context& ctx, proto::Message request) {
    const auto& r = expect<proto::Result>(ctx.daemon().request(std::move(request)));
    const std::string line = render_result(r, ctx.json);
    std::fputs((line + "\n").c_str(), proto::is_success(r.code) || ctx.json ? stdout : stderr);
    return proto::is_success(r.code) ? exit_ok : exit_failed;
}

std::string duration(std::uint64_t s) {
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
    return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string bytes(std::uint64_t b) {
    if (b < 1024 * 1024) return fmt::format("{:.1f} KiB", double(b) / 1024);
    return fmt::format("{:.1f} MiB", double(b) / (1024 * 1024));
}

std::string local_time(std::uint64_t unix_ms) {
    const std::time_t t = std::time_t(unix_ms / 1000);
    try {
        return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(t));
    } catch (const fmt::format_error&) { return "?"; }
}

} // namespace

std::vector<std::string> render_status(const proto::ControlStatusReply& r, bool json) {
    const bool counted = r.offline_stored != proto::offline_not_counted;
    if (json)
        return {JsonObject()
                    .field("version", r.version)
                    .field("uptime_s", r.uptime_s)
                    .field("users_online", std::uint64_t(r.users_online))
                    .field("connections", std::uint64_t(r.connections))
                    .field("messages_direct", r.messages_direct)
                    .field("messages_broadcast", r.messages_broadcast)
                    .raw("offline_stored", counted ? std::to_string(r.offline_stored) : "null")
                    .field("store_queue_depth", std::uint64_t(r.store_queue_depth))
                    .field("last_commit_us", r.last_commit_us)
                    .field("memory_bytes", r.memory_bytes)
                    .str()};
    return {
        fmt::format("confabd {}, up {}", r.version, duration(r.uptime_s)),
        fmt::format("users online        {}", r.users_online),
        fmt::format("connections         {}", r.connections),
        fmt::format("messages direct     {}", r.messages_direct),
        fmt::format("messages broadcast  {}", r.messages_broadcast),
        counted ? fmt::format("offline stored      {}", r.offline_stored)
                : "offline stored      not counted by a cluster node (they are in Redis)",
        fmt::format("store queue depth   {}", r.store_queue_depth),
        fmt::format("last commit         {:.3f} ms", double(r.last_commit_us) / 1000),
        fmt::format("memory              {}", bytes(r.memory_bytes)),
    };
}

std::vector<std::string> render_who(const proto::ControlWhoReply& r, bool json) {
    const std::size_t n =
        std::min({r.names.size(), r.addresses.size(), r.login_at_ms.size(), r.idle_s.size(), r.private_chats.size()});
    std::vector<std::string> lines;
    if (json) {
        std::string list = "[";
        for (std::size_t i = 0; i < n; ++i) {
            if (i) list += ',';
            list += JsonObject()
                        .field("name", r.names[i])
                        .field("address", r.addresses[i])
                        .field("login_at_ms", r.login_at_ms[i])
                        .field("idle_s", std::uint64_t(r.idle_s[i]))
                        .field("private_chats", std::uint64_t(r.private_chats[i]))
                        .str();
        }
        return {JsonObject().raw("users", list + "]").str()};
    }
    if (n == 0) return {"no users online"};
    std::size_t name_w = 4, addr_w = 7;
    for (std::size_t i = 0; i < n; ++i) {
        name_w = std::max(name_w, r.names[i].size());
        addr_w = std::max(addr_w, r.addresses[i].size());
    }
    lines.push_back(fmt::format("{:<{}}  {:<{}}  {:<19}  {:>7}  {}", "NAME", name_w, "ADDRESS", addr_w, "LOGIN", "IDLE",
                                "PRIVATE"));
    for (std::size_t i = 0; i < n; ++i)
        lines.push_back(fmt::format("{:<{}}  {:<{}}  {:<19}  {:>7}  {}", r.names[i], name_w, r.addresses[i], addr_w,
                                    local_time(r.login_at_ms[i]), duration(r.idle_s[i]), r.private_chats[i]));
    return lines;
}

std::string render_result(const proto::Result& r, bool json) {
    const bool ok = proto::is_success(r.code);
    const std::string_view detail = r.detail.empty() ? proto::to_string(r.code) : r.detail;
    if (json) {
        JsonObject o;
        o.field("ok", ok);
        if (!ok) o.field("error", proto::to_string(r.code)).field("code", std::uint64_t(r.code));
        return o.field("detail", detail).str();
    }
    return ok ? std::string(detail) : fmt::format("confabctl: {}", detail);
}

int run_status(Context& ctx) {
    want_args(ctx, 0, 0);
    print(render_status(expect<proto::ControlStatusReply>(ctx.daemon().request(proto::ControlStatus{})), ctx.json));
    return exit_ok;
}

int run_who(Context& ctx) {
    want_args(ctx, 0, 0);
    print(render_who(expect<proto::ControlWhoReply>(ctx.daemon().request(proto::ControlWho{})), ctx.json));
    return exit_ok;
}

int run_kick(Context& ctx) {
    want_args(ctx, 1, SIZE_MAX);
    const std::string reason = join_from(ctx.args, 1);
    return run_simple(ctx, proto::ControlKick{0, ctx.args[0], reason});
}

int run_lock(Context& ctx) {
    want_args(ctx, 1, 2);
    std::uint32_t seconds = proto::lock_until_unlocked;
    if (ctx.args.size() == 2) {
        auto s = parse_number<std::uint32_t>(ctx.args[1]);
        if (!s || *s == 0 || *s == proto::lock_until_unlocked)
            throw UsageError(fmt::format("SECONDS must be a whole number from 1 to {}, not '{}'",
                                         proto::lock_until_unlocked - 1, ctx.args[1]));
        seconds = *s;
    }
    return run_simple(ctx, proto::ControlLock{0, ctx.args[0], seconds});
}

int run_unlock(Context& ctx) {
    want_args(ctx, 1, 1);
    return run_simple(ctx, proto::ControlUnlock{0, ctx.args[0]});
}

int run_reload(Context& ctx) {
    want_args(ctx, 0, 0);
    return run_simple(ctx, proto::ControlReload{});
}

int run_wall(Context& ctx) {
    want_args(ctx, 1, SIZE_MAX);
    const std::string text = join_from(ctx.args, 0);
    return run_simple(ctx, proto::ControlWall{0, text});
}

int run_metrics(Context& ctx) {
    want_args(ctx, 0, 0);
    const auto& r = expect<proto::ControlMetricsReply>(ctx.daemon().request(proto::ControlMetrics{}));
    std::fwrite(r.text.data(), 1, r.text.size(), stdout); // the exposition format, --json or not
    return exit_ok;
}

} // namespace confab::ctl
