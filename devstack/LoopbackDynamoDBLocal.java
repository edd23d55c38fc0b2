// DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDB Local has no bind-address option: its Jetty server listens on
// every interface. This launcher builds the server exactly as DynamoDB
// Local's own main (ServerRunner) does, from the same command line, sets
// the host of each of its connectors to the loopback, then starts it.
// Run as a single source file (Java 11+):
//   java -cp DynamoDBLocal.jar:DynamoDBLocal_lib/* LoopbackDynamoDBLocal.java -inMemory -port 8000
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;

import java.lang.reflect.Field;
import java.lang.reflect.Method;

public class LoopbackDynamoDBLocal {
    private static final String LOOPBACK = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Object jetty = field.get(proxy);
        Object[] connectors = (Object[]) jetty.getClass().getMethod("getConnectors").invoke(jetty);
        if (connectors == null || connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector to bind to " + LOOPBACK);
        }
        for (Object connector : connectors) {
            Method setHost = connector.getClass().getMethod("setHost", String.class);
            setHost.invoke(connector, LOOPBACK);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + LOOPBACK);
    }
}
