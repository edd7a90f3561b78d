#include "user_commands.hpp"

#include "admin/password_input.hpp"
#include "admin/users_file_edit.hpp"
#include "config.hpp"
#include "json.hpp"

#include "proto/names.hpp"

#include "confab_build_config.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>

namespace confab::ctl {

namespace {

// The users file: --users-file, else the one the daemon's configuration names.
std::string users_file(const Context& ctx) {
    if (!ctx.users_file.empty()) return ctx.users_file;
    const std::string config =
        ctx.config_path.empty() ? std::string(CONFAB_SYSCONFDIR) + "/confab/confabd.toml" : ctx.config_path;
    const std::string path = parse_config(config).users_file;
    if (path.empty())
        throw UsageError(
            fmt::format("{} names no users_file (the daemon uses its demo users): give --users-file", config));
    return path;
}

// Asks a running daemon to read the file again; a daemon that is not running reads it at start.
int reload_after_edit(Context& ctx, const std::string& done) {
    try {
        const auto& r = ctx.daemon().request(proto::ControlReload{});
        const auto* result = std::get_if<proto::Result>(&r);
        if (result && !proto::is_success(result->code)) {
            std::fprintf(stderr, "confabctl: %s, but %.*s\n", done.c_str(), int(result->detail.size()),
                         result->detail.data());
            return exit_failed;
        }
        std::printf("%s; confabd reloaded\n", done.c_str());
    } catch (const ControlError& e) {
        if (e.kind == ControlError::Kind::permission_denied) {
            std::fprintf(stderr, "confabctl: %s, but could not reload confabd (%s)\n", done.c_str(), e.what());
            return exit_denied;
        }
        std::printf("%s; confabd is not running here: it reads the file when it starts\n", done.c_str());
    }
    return exit_ok;
}

std::string checked_name(const std::string& name) {
    if (!proto::is_valid_user_name(name))
        throw UsageError(fmt::format("invalid user name '{}' ({})", name, proto::user_name_rule));
    return name;
}

} // namespace

int run_user(Context& ctx) {
    const auto& a = ctx.args;
    if (a.empty()) throw UsageError("missing subcommand: add, passwd, del or list");
    const std::string& sub = a[0];
    bool from_stdin = false;
    std::vector<std::string> rest;
    for (std::size_t i = 1; i < a.size(); ++i) {
        if (a[i] == "--stdin")
            from_stdin = true;
        else
            rest.push_back(a[i]);
    }
    try {
        if (sub == "list") {
            if (!rest.empty() || from_stdin) throw UsageError("user list takes no argument");
            const auto users = admin::list_users(users_file(ctx));
            if (ctx.json) {
                std::string list = "[";
                for (std::size_t i = 0; i < users.size(); ++i)
                    list += (i ? "," : "") +
                            JsonObject().field("name", users[i].name).field("plaintext", users[i].plaintext).str();
                std::puts(JsonObject().raw("users", list + "]").str().c_str());
            } else {
                for (const auto& u : users)
                    std::printf("%s%s\n", u.name.c_str(), u.plaintext ? " (plaintext password)" : "");
                if (users.empty()) std::puts("no users");
            }
            return exit_ok;
        }
        if (sub != "add" && sub != "passwd" && sub != "del")
            throw UsageError(fmt::format("unknown subcommand '{}'", sub));
        if (rest.size() != 1) throw UsageError(fmt::format("user {} takes one NAME", sub));
        const std::string name = checked_name(rest[0]);
        const std::string path = users_file(ctx);
        if (sub == "del") {
            if (from_stdin) throw UsageError("user del reads no password");
            admin::delete_user(path, name);
            return reload_after_edit(ctx, fmt::format("{} deleted from {}", name, path));
        }
        std::string password = admin::read_new_password(from_stdin ? admin::PasswordSource::standard_input
                                                                   : admin::PasswordSource::terminal);
        admin::set_password(path, name, password, sub == "add" ? admin::SetMode::add : admin::SetMode::change);
        explicit_bzero(password.data(), password.size());
        return reload_after_edit(ctx,
                                 fmt::format("{} {} in {}", name, sub == "add" ? "added" : "password changed", path));
    } catch (const admin::EditError& e) {
        std::fprintf(stderr, "confabctl: %s\n", e.what());
        return exit_failed;
    } catch (const admin::PasswordInputError& e) {
        std::fprintf(stderr, "confabctl: %s\n", e.what());
        return exit_failed;
    }
}

} // namespace confab::ctl
