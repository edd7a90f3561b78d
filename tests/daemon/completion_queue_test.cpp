// CompletionQueue: the bound on waiting jobs, results through the eventfd,
// and what workers are handed once it stops.
#include "completion_queue.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <deque>
#include <string>
#include <thread>

using confab::CompletionQueue;

namespace {
bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}
} // namespace

TEST_CASE("a job past max_queued waiting is refused and left intact; taking one makes room") {
    CompletionQueue<std::string, int> q(2);
    std::string a = "a", b = "b", c = "c";
    CHECK(q.submit(a));
    CHECK(q.submit(b));
    CHECK_FALSE(q.submit(c));
    CHECK(c == "c"); // the caller still owns it, e.g. to wipe a password
    auto first = q.take_one();
    REQUIRE(first);
    CHECK(*first == "a");
    CHECK(q.submit(c));
    std::string d = "d";
    CHECK_FALSE(q.submit(d));
}

TEST_CASE("posted results wake the eventfd and come back oldest first, once") {
    CompletionQueue<int, int> q(4);
    CHECK_FALSE(readable(q.event_fd()));
    q.post(1);
    std::vector<int> batch{2, 3};
    q.post(batch);
    CHECK(batch.empty());
    CHECK(readable(q.event_fd()));
    CHECK(q.take_results() == std::vector<int>{1, 2, 3});
    CHECK_FALSE(readable(q.event_fd()));
    CHECK(q.take_results().empty());
    std::vector<int> none;
    q.post(none); // an empty batch wakes no one
    CHECK_FALSE(readable(q.event_fd()));
}

TEST_CASE("take_all hands over every queued job as one batch, and what is left after stop") {
    CompletionQueue<int, int> q(10);
    for (int i : {1, 2, 3}) CHECK(q.submit(i));
    std::deque<int> batch;
    REQUIRE(q.take_all(batch));
    CHECK(batch == std::deque<int>{1, 2, 3});
    int four = 4;
    CHECK(q.submit(four));
    q.stop();
    REQUIRE(q.take_all(batch)); // stopping still commits what was queued
    CHECK(batch == std::deque<int>{4});
    CHECK_FALSE(q.take_all(batch));
}

TEST_CASE("after stop, take_one starts nothing and the unstarted jobs can still be visited") {
    CompletionQueue<int, int> q(10);
    for (int i : {1, 2}) CHECK(q.submit(i));
    q.stop();
    CHECK_FALSE(q.take_one());
    std::vector<int> left;
    q.for_each_unstarted([&](int& j) { left.push_back(j); });
    CHECK(left == std::vector<int>{1, 2});
}

TEST_CASE("a waiting worker wakes for a job and for stop") {
    CompletionQueue<int, int> q(10);
    std::thread worker([&] {
        while (auto j = q.take_one()) q.post(*j * 10);
    });
    int seven = 7;
    CHECK(q.submit(seven));
    pollfd p{q.event_fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    CHECK(q.take_results() == std::vector<int>{70});
    q.stop();
    worker.join();
}
