// The commands answered by the running daemon over the control socket, and
// how their replies are shown (a human table or --json).
#pragma once

#include "command.hpp"

#include "proto/messages.hpp"

#include <ctime>
#include <string>
#include <vector>

namespace confab::ctl {

int run_status(Context& ctx);
int run_who(Context& ctx);
int run_kick(Context& ctx);
int run_lock(Context& ctx);
int run_unlock(Context& ctx);
int run_reload(Context& ctx);
int run_wall(Context& ctx);
int run_metrics(Context& ctx);

// The renderings, apart from the I/O so tests can check them. `now` is for the local time zone's dates.
std::vector<std::string> render_status(const proto::ControlStatusReply& r, bool json);
std::vector<std::string> render_who(const proto::ControlWhoReply& r, bool json);
std::string render_result(const proto::Result& r, bool json);

} // namespace confab::ctl
