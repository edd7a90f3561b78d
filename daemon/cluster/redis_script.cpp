#include "cluster/redis_script.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace confab {

RedisScript::RedisScript(std::string_view body) : body_(body) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(body_.data(), body_.size(), md.data(), &len, EVP_sha1(), nullptr) != 1 || len != 20)
        throw std::runtime_error("SHA1 of a Redis script failed");
    constexpr char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; ++i) sha1_.append({hex[md[i] >> 4], hex[md[i] & 15]});
}

std::vector<std::string> RedisScript::eval_command(std::vector<std::string> tail) const {
    tail.insert(tail.begin(), {"EVAL", body_});
    return tail;
}

} // namespace confab
