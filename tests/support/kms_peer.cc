#include "kms_peer.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

namespace fls::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

struct KmsPeer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
};

class KmsPeer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(KmsPeer& peer, tcp::socket socket) : peer_(peer), ws_(std::move(socket)) {}

  void start() {
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind == websocket::frame_type::ping) peer_.record([&] { peer_.pings_.emplace_back(payload); });
    });
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->do_read();
    });
  }

  void send(std::string text) {
    queue_.push_back(std::move(text));
    if (queue_.size() == 1) do_write();
  }

  void close() {
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {});
  }

  bool passed() const { return passed_; }

 private:
  void do_read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      std::string text = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      self->on_message(text);
      self->do_read();
    });
  }

  void do_write() {
    ws_.async_write(asio::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->do_write();
    });
  }

  void reply(const json& id, json result) {
    send(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}.dump());
  }
  void error(const json& id, int code, const std::string& message) {
    send(json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}}.dump());
  }

  void on_message(const std::string& text) {
    const json message = json::parse(text, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      peer_.record([&] { peer_.received_.push_back(json{{"unparsable", text}}); });
      return;
    }
    if (!message.contains("method")) {
      peer_.record([&] { peer_.replies_.push_back(message); });
      return;
    }
    peer_.record([&] { peer_.received_.push_back(message); });
    const std::string method = message["method"];
    const json& params = message["params"];
    if (method == "register") {
      registration_.sidecar_id = params.at("id");
      registration_.service_name = params.at("serviceName");
      registration_.row_key = random_bytes(32);
      registration_.batch_key = ed25519_from_seed(random_bytes(32));
      challenge_ = "challenge-" + hex(random_bytes(8));
      // Upper-case keys, as the original central KMS sent them.
      std::string batch_key = hex(registration_.batch_key.secret_key());
      std::string row_key = hex(registration_.row_key);
      for (auto* key : {&batch_key, &row_key}) {
        for (auto& c : *key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      reply(
          message["id"],
          {{"id", registration_.sidecar_id}, {"batchKey", batch_key}, {"rowKey", row_key}, {"challenge", challenge_}});
    } else if (method == "challenge") {
      const bool batch_ok = ed25519_verify(registration_.batch_key.public_key, challenge_,
                                           unhex(params.at("batchSignature").get<std::string>()));
      const bool row_ok =
          hex(rfc4493_cmac(registration_.row_key, challenge_)) == params.at("rowSignature").get<std::string>();
      if (!batch_ok) {
        error(message["id"], 40004, "Invalid batch signature");
        return close();
      }
      if (!row_ok) {
        error(message["id"], 40005, "Invalid row signature");
        return close();
      }
      passed_ = true;
      registration_.challenge_passed = true;
      peer_.record([&] { peer_.registrations_.push_back(registration_); });
      reply(message["id"], {{"status", "OK"}});
    } else if (method == "batch") {
      if (!peer_.answer_batches_) return;
      const std::string id = params.at("id");
      bool duplicate = false;
      peer_.record([&] {
        duplicate = !peer_.batches_.emplace(id, PeerBatch{registration_.sidecar_id, params.at("signature")}).second;
      });
      if (duplicate) return error(message["id"], 120, "Batch already exists");
      reply(message["id"], {{"id", id}});
    }
  }

  KmsPeer& peer_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  PeerRegistration registration_;
  std::string challenge_;
  bool passed_ = false;
};

KmsPeer::KmsPeer(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  do_accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

KmsPeer::~KmsPeer() {
  impl_->io.stop();
  impl_->thread.join();
}

void KmsPeer::do_accept() {
  impl_->acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;
    auto session = std::make_shared<Session>(*this, std::move(socket));
    record([&] { sessions_.push_back(session); });
    session->start();
    do_accept();
  });
}

void KmsPeer::record(const std::function<void()>& change) {
  {
    std::lock_guard lock(mutex_);
    change();
  }
  changed_.notify_all();
}

bool KmsPeer::wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, predicate);
}

void KmsPeer::remember_registration(const PeerRegistration& registration,
                                    const std::map<std::string, PeerBatch>& batches) {
  record([&] {
    registrations_.insert(registrations_.begin(), registration);
    batches_.insert(batches.begin(), batches.end());
  });
}

void KmsPeer::hang_for(std::chrono::milliseconds how_long) {
  asio::post(impl_->io, [how_long] { std::this_thread::sleep_for(how_long); });
}

std::vector<std::string> KmsPeer::pings() {
  std::lock_guard lock(mutex_);
  return pings_;
}

std::vector<PeerRegistration> KmsPeer::registrations() {
  std::lock_guard lock(mutex_);
  return registrations_;
}

std::map<std::string, PeerBatch> KmsPeer::batches() {
  std::lock_guard lock(mutex_);
  return batches_;
}

std::vector<json> KmsPeer::messages_with_method(const std::string& method) {
  std::lock_guard lock(mutex_);
  std::vector<json> out;
  for (const auto& m : received_) {
    if (m.contains("method") && m["method"] == method) out.push_back(m);
  }
  return out;
}

std::vector<json> KmsPeer::replies() {
  std::lock_guard lock(mutex_);
  return replies_;
}

std::size_t KmsPeer::registered_count_locked() const { return registrations_.size(); }

std::size_t KmsPeer::method_count_locked(const std::string& method) const {
  std::size_t n = 0;
  for (const auto& m : received_) n += m.contains("method") && m["method"] == method;
  return n;
}

std::size_t KmsPeer::open_connections() {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& weak : sessions_) n += !weak.expired();
  return n;
}

void KmsPeer::send_to_sidecar(const std::string& text) {
  asio::post(impl_->io, [this, text] {
    std::shared_ptr<Session> newest;
    {
      std::lock_guard lock(mutex_);
      for (const auto& weak : sessions_) {
        if (auto s = weak.lock(); s && s->passed()) newest = s;
      }
    }
    if (newest) newest->send(text);
  });
}

void KmsPeer::drop_connections() {
  asio::post(impl_->io, [this] {
    std::vector<std::shared_ptr<Session>> all;
    {
      std::lock_guard lock(mutex_);
      for (const auto& weak : sessions_) {
        if (auto s = weak.lock()) all.push_back(s);
      }
    }
    for (auto& s : all) s->close();
  });
}

}  // namespace fls::test
