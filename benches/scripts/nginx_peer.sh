# Sourced by the scripts that measure greenloop beside nginx (tls_vs_nginx.sh,
# h2_vs_nginx.sh, static_vs_nginx.sh): what they all set up the same way.

# bench_cert DIR: a private CA (DIR/ca.pem) and a leaf for localhost and
# 127.0.0.1 signed by it (DIR/cert.pem, DIR/key.pem), ECDSA P-256, one day.
bench_cert() {
  local dir="$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/ca.key" \
    -out "$dir/ca.pem" -days 1 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/key.pem" \
    -out "$dir/leaf.csr" -subj /CN=localhost 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/cert.pem" -days 1 -extfile "$dir/ext.cnf" 2>/dev/null
}

# nginx_conf_head DIR: the start of an nginx.conf for one worker process that
# keeps everything (pid, logs, temp files) in DIR, up to and including the
# `http {` line's common settings; the caller appends its own and the server.
nginx_conf_head() {
  local dir="$1"
  mkdir -p "$dir/nginx"
  cat <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx; proxy_temp_path $dir/nginx; fastcgi_temp_path $dir/nginx;
  uwsgi_temp_path $dir/nginx; scgi_temp_path $dir/nginx;
  keepalive_requests 1000000;
CONF
}
