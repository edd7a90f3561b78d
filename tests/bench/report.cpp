#include "report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace confab::bench {

std::string human_rate(double v) {
    if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
    if (v >= 1e4) return fmt::format("{:.0f}k", v / 1e3);
    if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
    return fmt::format("{:.0f}", v);
}

std::string human_ns(std::int64_t ns) {
    if (ns >= 1'000'000'000) return fmt::format("{:.2f}s", double(ns) / 1e9);
    if (ns >= 1'000'000) return fmt::format("{:.1f}ms", double(ns) / 1e6);
    if (ns >= 100'000) return fmt::format("{:.2f}ms", double(ns) / 1e6);
    return fmt::format("{:.0f}us", double(ns) / 1e3);
}

std::string human_bytes(double b) {
    if (std::fabs(b) >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f}GiB", b / (1024.0 * 1024 * 1024));
    if (std::fabs(b) >= 1024.0 * 1024) return fmt::format("{:.1f}MiB", b / (1024.0 * 1024));
    if (std::fabs(b) >= 10 * 1024.0) return fmt::format("{:.1f}KiB", b / 1024.0);
    return fmt::format("{:.0f}B", b);
}

void Report::param(const std::string& key, double value) {
    params_.emplace_back(key, value);
}

void Report::figure(const std::string& key, double value, std::string human) {
    figures_.emplace_back(key, value);
    if (!human.empty()) human_.push_back(std::move(human));
}

void Report::note(const std::string& key, const std::string& value) {
    notes_.emplace_back(key, value);
}

void Report::text(std::string human) {
    human_.push_back(std::move(human));
}

void Report::fail(const std::string& why) {
    if (error_.empty()) error_ = why;
}

void Report::check(const std::string& key, bool met) {
    checks_.emplace_back(key, met);
    if (!human_.empty()) human_.back() += met ? " PASS" : " FAIL";
}

std::vector<std::string> Report::missed() const {
    std::vector<std::string> keys;
    for (const auto& [k, met] : checks_)
        if (!met) keys.push_back(k);
    return keys;
}

void Report::latency(const std::string& prefix, const Histogram& h, bool human) {
    const std::int64_t p50 = h.quantile(0.50), p99 = h.quantile(0.99), p999 = h.quantile(0.999);
    figure(prefix + "p50_us", double(p50) / 1e3, "");
    figure(prefix + "p99_us", double(p99) / 1e3, "");
    figure(prefix + "p999_us", double(p999) / 1e3, "");
    figure(prefix + "max_us", double(h.max()) / 1e3, "");
    figure(prefix + "samples", double(h.count()), "");
    if (human)
        human_.push_back(fmt::format("{}p50={} {}p99={} {}p999={}", prefix, human_ns(p50), prefix, human_ns(p99),
                                     prefix, human_ns(p999)));
}

void Report::server_cpu(const ProcSample& before, const ProcSample& after, double units, const std::string& unit_name) {
    if (!before.ok || !after.ok || units <= 0) {
        figure("server_cpu_us_per_" + unit_name, NAN, "server_cpu=n/a");
        return;
    }
    // utime+stime has clock-tick resolution (10 ms); schedstat counts the same
    // CPU time in ns, so it is the headline figure when the kernel provides it.
    const double tick_us = double(after.cpu_us - before.cpu_us);
    const bool precise = before.sched_ns > 0 && after.sched_ns > 0;
    const double cpu_us = precise ? double(after.sched_ns - before.sched_ns) / 1e3 : tick_us;
    figure("server_cpu_us", cpu_us, "");
    figure("server_cpu_us_per_" + unit_name, cpu_us / units,
           fmt::format("server_cpu={:.3f} us/{}", cpu_us / units, unit_name));
    figure("server_cpu_ticks_us_per_" + unit_name, tick_us / units, "");
    figure("rss_bytes", double(after.rss_bytes), "rss=" + human_bytes(double(after.rss_bytes)));
}

std::string Report::text_line() const {
    std::string s = fmt::format("{:<7}", transport_.empty() ? workload_ : workload_ + "/" + transport_);
    for (const auto& [k, v] : params_) s += fmt::format(" {}={}", k, v);
    s += " ";
    for (const auto& h : human_) s += "  " + h;
    s += error_.empty() ? "  OK" : "  FAILED: " + error_;
    return s;
}

namespace {
std::string json_string(const std::string& v) {
    std::string out = "\"";
    for (char ch : v) {
        if (ch == '"' || ch == '\\')
            out += '\\', out += ch;
        else if (static_cast<unsigned char>(ch) < 0x20)
            out += fmt::format("\\u{:04x}", int(ch));
        else
            out += ch;
    }
    return out + "\"";
}
std::string json_number(double v) {
    return std::isfinite(v) ? fmt::format("{}", v) : "null";
}
} // namespace

std::string Report::json_line() const {
    std::string s = fmt::format("{{\"workload\":{},\"ok\":{}", json_string(workload_), error_.empty());
    s += ",\"transport\":" + json_string(transport_.empty() ? "tcp" : transport_);
    if (!error_.empty()) s += ",\"error\":" + json_string(error_);
    for (const auto& [k, v] : params_) s += fmt::format(",{}:{}", json_string(k), json_number(v));
    for (const auto& [k, v] : figures_) s += fmt::format(",{}:{}", json_string(k), json_number(v));
    for (const auto& [k, v] : notes_) s += fmt::format(",{}:{}", json_string(k), json_string(v));
    for (const auto& [k, met] : checks_) s += fmt::format(",{}:{}", json_string("met_" + k), met);
    return s + "}";
}

} // namespace confab::bench
