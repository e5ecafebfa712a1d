public import PostgresNIO

extension PostgresQuery {
    /// `SELECT columns FROM table [WHERE condition] ORDER BY orderBy`, keeping the condition's binds.
    ///
    /// Columns, table and ordering are the caller's constants; only the condition carries values.
    public static func select(
        _ columns: String,
        from table: String,
        where condition: PostgresQuery?,
        orderBy: String
    ) -> PostgresQuery {
        var sql = "SELECT \(columns) FROM \(table)"
        if let condition { sql += " WHERE " + condition.sql }
        sql += " ORDER BY \(orderBy)"
        return PostgresQuery(unsafeSQL: sql, binds: condition?.binds ?? PostgresBindings())
    }
}
